//! What machine and build produced the numbers: results mean nothing without it.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cpus: usize,
    pub kernel: String,
    pub rustc: String,
    pub profile: String,
}

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
        rustc: env!("EXERCISE_RUSTC_VERSION").to_string(),
        profile: if cfg!(debug_assertions) { "debug".into() } else { "release".into() },
    }
}
