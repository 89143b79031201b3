//! What machine and build produced the numbers: results mean nothing without it. Also what the
//! machine can hold (its available memory) and how it backs a large heap (transparent huge
//! pages), which decide the fork-cost curve.

use serde::Serialize;

/// The machine and the build.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// The CPU's model name (`/proc/cpuinfo`).
    pub cpu: String,
    /// How many CPUs this process may use.
    pub cpus: usize,
    /// `Linux 6.18.44`...
    pub kernel: String,
    /// The compiler that built the harness (and so the program: one workspace, one compiler).
    pub rustc: String,
    /// `release` or `debug`.
    pub profile: String,
}

impl Machine {
    /// Describes this machine and build.
    pub fn describe() -> Machine {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        let kernel = nix::sys::utsname::uname()
            .map(|u| format!("{} {}", u.sysname().to_string_lossy(), u.release().to_string_lossy()))
            .unwrap_or_else(|_| "unknown kernel".into());
        Machine {
            cpu,
            cpus: multiprocessing::cpu_count(),
            kernel,
            rustc: env!("HARNESS_RUSTC_VERSION").to_string(),
            profile: if cfg!(debug_assertions) { "debug".into() } else { "release".into() },
        }
    }
}

/// `AMD EPYC (2 CPUs), Linux 6.18.44`: the machine, without the build.
impl std::fmt::Display for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({} CPUs), {}", self.cpu, self.cpus, self.kernel)
    }
}

/// The memory the kernel says it can give without swapping (`MemAvailable`), in bytes.
pub fn available_memory() -> Option<u64> {
    meminfo_field(&std::fs::read_to_string("/proc/meminfo").ok()?, "MemAvailable:")
}

/// A `kB` field of the text of `/proc/meminfo`, in bytes.
pub fn meminfo_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    let kib: u64 = line[name.len()..].split_whitespace().next()?.parse().ok()?;
    Some(kib << 10)
}

/// Transparent huge pages: `always`, `madvise` or `never` (the bracketed word of
/// `/sys/kernel/mm/transparent_hugepage/enabled`); `None` where the kernel has none.
pub fn transparent_hugepages() -> Option<String> {
    selected(&std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").ok()?)
}

/// The bracketed choice of a sysfs setting: `always [madvise] never` gives `madvise`.
pub fn selected(text: &str) -> Option<String> {
    let start = text.find('[')? + 1;
    let end = start + text[start..].find(']')?;
    Some(text[start..end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_proc_and_sys() {
        let meminfo = "MemTotal:       24000000 kB\nMemFree:        1000 kB\nMemAvailable:   2048 kB\n";
        assert_eq!(meminfo_field(meminfo, "MemAvailable:"), Some(2 << 20));
        assert_eq!(meminfo_field(meminfo, "SwapTotal:"), None);
        assert_eq!(selected("always [madvise] never\n").as_deref(), Some("madvise"));
        assert_eq!(selected("garbage"), None);
        let m = Machine::describe();
        assert!(m.cpus >= 1 && m.rustc.starts_with("rustc"), "{m:?}");
        assert!(m.to_string().contains(" CPUs), "), "{m}");
    }
}
