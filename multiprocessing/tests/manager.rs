//! Tests for `Manager` and its proxies across real processes: operations from several processes,
//! the copy rule of a namespace, clients killed in the middle of requests, a server killed under
//! its clients, the ways a server ends, and bytes that are not requests. Each test runs in a
//! fresh process (see harness/mod.rs); the fault tests print a `FIGURES` line.

mod harness;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use multiprocessing::wire_test_support as wire;
use multiprocessing::{Error, Event, Manager, Process, Queue, active_children, pipe};

use harness::{Rng, clock_seed, join_all, running, start_all};

fn main() {
    harness::main(
        &[
            (
                "dict_list_and_namespace_from_several_processes",
                dict_list_and_namespace_from_several_processes,
            ),
            ("proxies_print_as_python_prints_the_objects", proxies_print_as_python_prints_the_objects),
            (
                "a_namespace_gives_copies_and_names_a_missing_attribute",
                a_namespace_gives_copies_and_names_a_missing_attribute,
            ),
            ("list_and_dict_errors_are_pythons", list_and_dict_errors_are_pythons),
            ("threads_and_large_values", threads_and_large_values),
            ("the_server_is_a_child_named_as_in_cpython", the_server_is_a_child_named_as_in_cpython),
            ("the_socket_is_in_a_private_directory", the_socket_is_in_a_private_directory),
            ("clients_killed_mid_request_at_random_instants", clients_killed_mid_request_at_random_instants),
            ("a_killed_server_is_a_clear_error_soon", a_killed_server_is_a_clear_error_soon),
            ("dropping_the_manager_stops_the_server", dropping_the_manager_stops_the_server),
            ("a_terminated_server_removes_its_directory", a_terminated_server_removes_its_directory),
            ("the_server_leaves_when_its_owner_is_killed", the_server_leaves_when_its_owner_is_killed),
            ("at_exit_the_server_is_stopped", at_exit_the_server_is_stopped),
            ("bytes_that_are_not_requests_hurt_nobody", bytes_that_are_not_requests_hurt_nobody),
            ("forks_while_another_thread_is_mid_request", forks_while_another_thread_is_mid_request),
        ],
        &[
            ("leaked_manager_at_return", leaked_manager_at_return),
            ("leaked_manager_at_exit", leaked_manager_at_exit),
        ],
    );
}

/// Waits up to `limit` for `done`; returns how long it took, or `None`.
fn within(limit: Duration, mut done: impl FnMut() -> bool) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if done() {
            return Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    None
}

fn dict_list_and_namespace_from_several_processes() {
    const WORKERS: u32 = 4;
    const EACH: u32 = 50;
    let manager = Manager::new().unwrap();
    let d = manager.dict::<(u32, u32), String>().unwrap();
    let l = manager.list::<u32>().unwrap();
    let ns = manager.namespace().unwrap();
    ns.set("count", &0u32).unwrap();
    let mut workers: Vec<Process> = (0..WORKERS)
        .map(|w| {
            let (d, l, ns) = (d.clone(), l.clone(), ns.clone());
            Process::new(move || -> multiprocessing::Result<()> {
                for i in 0..EACH {
                    d.set(&(w, i), &format!("{w}-{i}"))?;
                    l.append(&(w * 1000 + i))?;
                    assert_eq!(d.get(&(w, i))?.as_deref(), Some(format!("{w}-{i}").as_str()));
                }
                ns.set(&format!("worker{w}"), &vec![w; 3])?;
                Ok(())
            })
        })
        .collect();
    start_all(&mut workers);
    join_all(&mut workers);
    assert_eq!(d.len().unwrap(), (WORKERS * EACH) as usize);
    assert_eq!(l.len().unwrap(), (WORKERS * EACH) as usize);
    // Each worker's own appends arrived in its order; nothing lost, nothing twice.
    let all = l.to_vec().unwrap();
    for w in 0..WORKERS {
        let mine: Vec<u32> = all.iter().copied().filter(|v| v / 1000 == w).collect();
        assert_eq!(mine, (0..EACH).map(|i| w * 1000 + i).collect::<Vec<_>>());
    }
    // Keys in the order they arrived: each worker's in its own order.
    let keys = d.keys().unwrap();
    for w in 0..WORKERS {
        let mine: Vec<u32> = keys.iter().filter(|k| k.0 == w).map(|k| k.1).collect();
        assert_eq!(mine, (0..EACH).collect::<Vec<_>>());
    }
    let items = d.items().unwrap();
    assert!(items.iter().all(|((w, i), v)| *v == format!("{w}-{i}")));
    assert_eq!(d.values().unwrap().len(), items.len());
    for w in 0..WORKERS {
        assert_eq!(ns.get::<Vec<u32>>(&format!("worker{w}")).unwrap(), vec![w; 3]);
    }
    assert_eq!(ns.names().unwrap().len(), 1 + WORKERS as usize);
    // Remove, contains, clear.
    assert_eq!(d.remove(&(0, 0)).unwrap().as_deref(), Some("0-0"));
    assert_eq!(d.remove(&(0, 0)).unwrap(), None);
    assert!(!d.contains_key(&(0, 0)).unwrap() && d.contains_key(&(1, 0)).unwrap());
    d.clear().unwrap();
    assert!(d.is_empty().unwrap());
}

fn proxies_print_as_python_prints_the_objects() {
    let manager = Manager::new().unwrap();
    let d = manager.dict::<i32, i32>().unwrap();
    for i in [0, 4, 3] {
        d.set(&i, &(i * 2)).unwrap();
    }
    // Python's `print(d)` of a DictProxy: the dict, keys in the order they arrived.
    assert_eq!(d.to_string(), "{0: 0, 4: 8, 3: 6}");
    let active = manager.list::<String>().unwrap();
    assert_eq!(active.to_string(), "[]");
    for name in ["0", "3", "1"] {
        active.append(name).unwrap();
    }
    assert_eq!(format!("Now running {active}"), "Now running ['0', '3', '1']");
    let names = manager.dict::<String, Vec<Option<f64>>>().unwrap();
    names.set("it's", &vec![Some(1.0), None, Some(0.5)]).unwrap();
    assert_eq!(names.to_string(), "{\"it's\": [1.0, None, 0.5]}");
    // Debug is Python's repr of a proxy: which object, without a round trip.
    let debug = format!("{d:?}");
    assert!(debug.starts_with("<DictProxy object, typeid 'dict', id 1 of the manager at "), "{debug}");
    // Printing cannot fail: a gone server prints the error.
    drop(manager);
    let printed = d.to_string();
    assert!(printed.contains("is gone") && printed.starts_with("<DictProxy"), "{printed}");
}

fn a_namespace_gives_copies_and_names_a_missing_attribute() {
    let manager = Manager::new().unwrap();
    let ns = manager.namespace().unwrap();
    ns.set("my_list", &Vec::<String>::new()).unwrap();
    let err = ns.get::<String>("value").unwrap_err();
    assert!(matches!(&err, Error::NoAttribute { name } if name == "value"), "{err}");
    assert!(err.to_string().starts_with("'Namespace' object has no attribute 'value'"), "{err}");
    let producer = {
        let ns = ns.clone();
        Process::new(move || -> multiprocessing::Result<()> {
            // DOES NOT UPDATE GLOBAL VALUE: a copy is changed and dropped.
            ns.get::<Vec<String>>("my_list")?.push("This is the value".into());
            // Setting the whole value does.
            let mut list = ns.get::<Vec<String>>("my_list")?;
            list.push("set again".into());
            ns.set("other_list", &list)?;
            ns.set("value", "This is the value")
        })
    };
    let mut producer = producer;
    producer.start().unwrap();
    assert_eq!(producer.join().unwrap(), 0);
    assert_eq!(ns.get::<Vec<String>>("my_list").unwrap(), Vec::<String>::new());
    assert_eq!(ns.get::<Vec<String>>("other_list").unwrap(), ["set again"]);
    assert_eq!(ns.get::<String>("value").unwrap(), "This is the value");
    assert!(ns.contains("value").unwrap());
    ns.remove("value").unwrap();
    assert!(!ns.contains("value").unwrap());
    assert!(matches!(ns.remove("value"), Err(Error::NoAttribute { .. })));
    // Another type than the one set: an error, not a wrong value.
    assert!(matches!(ns.get::<Vec<u64>>("other_list"), Err(Error::Decode(_))), "a decode error");
}

fn list_and_dict_errors_are_pythons() {
    let manager = Manager::new().unwrap();
    let l = manager.list::<String>().unwrap();
    l.extend(["a", "b"].map(String::from)).unwrap();
    let err = l.get(2).unwrap_err();
    assert!(matches!(err, Error::ListIndexOutOfRange { index: 2, len: 2 }), "{err}");
    assert!(err.to_string().contains("IndexError"), "{err}");
    assert!(matches!(l.set(5, "x"), Err(Error::ListIndexOutOfRange { index: 5, len: 2 })));
    l.set(1, "B").unwrap();
    l.insert(0, "first").unwrap();
    l.insert(99, "last").unwrap();
    assert_eq!(l.to_vec().unwrap(), ["first", "a", "B", "last"]);
    let err = l.remove("zzz").unwrap_err();
    assert!(matches!(err, Error::NotInList) && err.to_string().contains("ValueError"), "{err}");
    l.remove("a").unwrap();
    assert!(l.contains("B").unwrap() && !l.contains("a").unwrap());
    assert_eq!(l.pop().unwrap().as_deref(), Some("last"));
    l.clear().unwrap();
    assert_eq!(l.pop().unwrap(), None);
    assert!(l.is_empty().unwrap());
    // A value that cannot be encoded is refused before anything is sent, and the connection
    // stays in step: the next request gets its own reply.
    let ns = manager.namespace().unwrap();
    let err = ns.set("x", &Unencodable).unwrap_err();
    assert!(matches!(&err, Error::Encode(why) if why.contains("no bytes for this")), "{err}");
    ns.set("x", &1u8).unwrap();
    assert_eq!(ns.get::<u8>("x").unwrap(), 1);
}

/// A value whose `Serialize` fails.
struct Unencodable;

impl serde::Serialize for Unencodable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("no bytes for this"))
    }
}

fn threads_and_large_values() {
    let manager = Manager::new().unwrap();
    let d = manager.dict::<u32, u32>().unwrap();
    // Each thread has its own connection: four at once, no request mixed with another's.
    std::thread::scope(|s| {
        for t in 0..4u32 {
            let d = d.clone();
            s.spawn(move || {
                for i in 0..300 {
                    let key = t * 1000 + i;
                    d.set(&key, &(key * 3)).unwrap();
                    assert_eq!(d.get(&key).unwrap(), Some(key * 3));
                }
            });
        }
    });
    assert_eq!(d.len().unwrap(), 1200);
    // A value of 8 MB: many times the socket's buffer, both ways.
    let big = manager.list::<Vec<u64>>().unwrap();
    let value: Vec<u64> = (0..1_000_000).collect();
    big.append(&value).unwrap();
    let mut p = Process::new({
        let big = big.clone();
        move || -> multiprocessing::Result<()> {
            let mut v = big.get(0)?;
            v.reverse();
            big.append(&v)
        }
    });
    p.start().unwrap();
    assert_eq!(p.join().unwrap(), 0);
    let back = big.to_vec().unwrap();
    assert_eq!(back[0], value);
    assert!(back[1].iter().rev().copied().eq(0..1_000_000));
}

fn the_server_is_a_child_named_as_in_cpython() {
    let manager = Manager::new().unwrap();
    assert_eq!(active_children(), ["SyncManager-1"]);
    // The manager took the first number, as in CPython.
    let p = Process::new(|| ());
    assert_eq!(p.name(), "Process-2");
    assert!(running(manager.pid()));
    // A clone of the Manager in a child may make objects but not stop the server.
    let d = manager.dict::<u8, u8>().unwrap();
    let d2 = d.clone();
    let mut child = Process::new({
        let manager = manager.clone();
        move || -> multiprocessing::Result<()> {
            let l = manager.list::<u8>()?;
            l.append(&1)?;
            d.set(&1, &(l.len()? as u8))?;
            match manager.shutdown() {
                Err(Error::InvalidState(why)) if why.contains("only the process that made") => Ok(()),
                other => panic!("shutdown in a child: {other:?}"),
            }
            // Dropping the clone here leaves the server running.
        }
    });
    child.start().unwrap();
    assert_eq!(child.join().unwrap(), 0);
    assert_eq!(d2.get(&1).unwrap(), Some(1));
    // The handle the closure captured was dropped here by `start`: this one keeps the server.
    assert!(running(manager.pid()));
    let pid = manager.pid();
    drop(manager);
    assert!(!running(pid), "the last handle stops the server");
}

fn the_socket_is_in_a_private_directory() {
    let manager = Manager::new().unwrap();
    let socket = manager.address().to_path_buf();
    assert!(socket.is_absolute(), "a path in the file system, not an abstract address: {socket:?}");
    let directory = socket.parent().unwrap();
    let mode = std::fs::metadata(directory).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "{directory:?} has mode {mode:o}");
    assert!(directory.file_name().unwrap().to_string_lossy().starts_with("mp-manager-"));
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::metadata(&socket).unwrap().file_type().is_socket());
    drop(manager);
    assert!(!directory.exists(), "{directory:?} left behind");
}

/// Victims append numbered values (some of 100 KB, so that a kill lands in the middle of a
/// request's bytes) to their own lists, and tell the test each append that returned, through a
/// pipe. Each is SIGKILLed at a random instant. A steady client checks every reply meanwhile.
/// Each list must be 0, 1, 2, ... intact, holding every append that returned and at most one
/// more (the one in flight), and the steady client must see no error at all.
fn clients_killed_mid_request_at_random_instants() {
    const KILLS: u64 = 200;
    let started = Instant::now();
    let mut rng = Rng(clock_seed());
    let seed = rng.0;
    let manager = Manager::new().unwrap();
    let steady_dict = manager.dict::<u64, u64>().unwrap();
    let stop = Event::new().unwrap();
    let mut steady = Process::new({
        let (d, stop) = (steady_dict.clone(), stop.clone());
        move || {
            let mut n = 0u64;
            while !stop.is_set() {
                d.set(&(n % 64), &n).expect("set");
                assert_eq!(d.get(&(n % 64)).expect("get"), Some(n), "a reply for another request");
                n += 1;
            }
            d.set(&u64::MAX, &n).expect("the count");
        }
    });
    steady.start().unwrap();
    let mut victims = Vec::new();
    for _ in 0..KILLS {
        let list = manager.list::<(u64, Vec<u8>)>().unwrap();
        let (mut acks, mut ack) = pipe::<u64>(false).unwrap();
        let mut victim = Process::new({
            let list = list.clone();
            move || -> multiprocessing::Result<()> {
                for n in 0.. {
                    let len = if n % 4 == 3 { 100_000 } else { (n as usize * 37) % 500 };
                    list.append(&(n, vec![n as u8; len]))?;
                    ack.send(&n)?;
                }
                Ok(())
            }
        });
        victim.start().unwrap();
        std::thread::sleep(Duration::from_micros(rng.below(4_000)));
        victim.kill().unwrap();
        assert_eq!(victim.join().unwrap(), -9);
        let mut acked = 0;
        while let Ok(n) = acks.recv() {
            assert_eq!(n, acked);
            acked += 1;
        }
        // The server still answers this process at once.
        list.len().unwrap();
        victims.push((list, acked));
    }
    // An append whose bytes all reached the server before its sender died is carried out, when
    // the server reads them: perhaps after this process's next request. Give the server time to
    // read every dead victim's connection to its end, then look.
    std::thread::sleep(Duration::from_millis(200));
    let (mut lost, mut in_flight, mut appended, mut cut_large) = (0, 0, 0, 0);
    for (list, acked) in &victims {
        let acked = *acked;
        let got = list.to_vec().unwrap();
        for (i, (n, bytes)) in got.iter().enumerate() {
            assert_eq!(*n, i as u64, "out of order or duplicated");
            assert!(bytes.iter().all(|&b| b == *n as u8), "value {n} damaged");
        }
        let len = got.len() as u64;
        assert!(len >= acked, "an append that returned is missing: {len} < {acked}");
        assert!(len <= acked + 1, "more than the append in flight: {len} > {acked} + 1");
        lost += acked.saturating_sub(len);
        if len == acked + 1 {
            in_flight += 1;
        } else if acked % 4 == 3 {
            cut_large += 1; // killed before or while sending a 100 KB append: it never landed
        }
        appended += len;
    }
    stop.set();
    assert_eq!(steady.join().unwrap(), 0, "the steady client saw an error");
    let steady_requests = 2 * steady_dict.get(&u64::MAX).unwrap().expect("the steady client's count");
    println!(
        "FIGURES clients_killed_mid_request_at_random_instants: kills={KILLS} appended={appended} \
         lost={lost} duplicated=0 in_flight_landed={in_flight} large_not_landed={cut_large} hangs=0 \
         steady_client_requests={steady_requests} seed={seed} time={:.1}s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(lost, 0);
}

/// A server killed under busy clients, and under a client already waiting for its reply: each
/// gets `ManagerGone` within a bounded time, never a hang.
fn a_killed_server_is_a_clear_error_soon() {
    let manager = Manager::new().unwrap();
    let server = nix::unistd::Pid::from_raw(manager.pid() as i32);
    let d = manager.dict::<u32, u32>().unwrap();
    let reports = Queue::<String>::new().unwrap();
    let busy: Vec<Process> = (0..3)
        .map(|c| {
            let (d, report) = (d.clone(), reports.clone());
            Process::new(move || -> multiprocessing::Result<()> {
                let mut n = 0;
                let err = loop {
                    match d.set(&c, &n).and_then(|()| d.get(&c)) {
                        Ok(_) => n += 1,
                        Err(e) => break e,
                    }
                };
                report.put(format!("busy {c}: {}", kind(&err)))
            })
        })
        .collect();
    let mut busy = busy;
    start_all(&mut busy);
    std::thread::sleep(Duration::from_millis(100));
    nix::sys::signal::kill(server, nix::sys::signal::SIGKILL).unwrap();
    let killed = Instant::now();
    for p in &mut busy {
        assert_eq!(p.join_timeout(Duration::from_secs(5)).unwrap(), Some(0), "a busy client hung");
    }
    let busy_time = killed.elapsed();
    for _ in 0..3 {
        let line = reports.get_timeout(Duration::from_secs(5)).unwrap();
        assert!(line.ends_with("ManagerGone"), "{line}");
    }
    // This process's own connection, and a new one, say the same.
    assert!(matches!(d.len(), Err(Error::ManagerGone { .. })));
    let err = manager.list::<u8>().unwrap_err();
    assert!(matches!(err, Error::ManagerGone { .. }), "{err}");
    assert!(err.to_string().contains("is gone"), "{err}");
    drop(manager);

    // A stopped server with a client waiting for its reply; then the server is killed.
    let manager = Manager::new().unwrap();
    let server = nix::unistd::Pid::from_raw(manager.pid() as i32);
    let d = manager.dict::<u32, u32>().unwrap();
    d.set(&1, &1).unwrap();
    nix::sys::signal::kill(server, nix::sys::signal::SIGSTOP).unwrap();
    let mut waiter = Process::new({
        let (d, report) = (d.clone(), reports.clone());
        move || -> multiprocessing::Result<()> {
            let asked = Instant::now();
            let outcome = d.get(&1);
            report.put(format!(
                "waiter after {:?}: {}",
                asked.elapsed(),
                outcome.map_or_else(|e| kind(&e), |_| "Ok".into())
            ))
        }
    });
    waiter.start().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(waiter.is_alive(), "a request to a stopped server is waited for");
    nix::sys::signal::kill(server, nix::sys::signal::SIGKILL).unwrap();
    let killed = Instant::now();
    assert_eq!(waiter.join_timeout(Duration::from_secs(5)).unwrap(), Some(0), "the waiter hung");
    let waiter_time = killed.elapsed();
    let line = reports.get_timeout(Duration::from_secs(5)).unwrap();
    assert!(line.ends_with("ManagerGone"), "{line}");
    println!(
        "FIGURES a_killed_server_is_a_clear_error_soon: busy_clients=3 all_errors_within={:.0}ms \
         waiting_client_error_within={:.0}ms hangs=0 -- {line}",
        busy_time.as_secs_f64() * 1000.0,
        waiter_time.as_secs_f64() * 1000.0
    );
    assert!(busy_time < Duration::from_secs(2) && waiter_time < Duration::from_secs(2));
}

/// The name of an error's variant, for reports.
fn kind(e: &Error) -> String {
    match e {
        Error::ManagerGone { .. } => "ManagerGone".into(),
        other => format!("unexpected: {other}"),
    }
}

fn dropping_the_manager_stops_the_server() {
    let manager = Manager::new().unwrap();
    let (pid, directory) = (manager.pid(), manager.address().parent().unwrap().to_path_buf());
    let d = manager.dict::<u8, u8>().unwrap();
    d.set(&1, &2).unwrap();
    let dropped = Instant::now();
    drop(manager);
    let took = dropped.elapsed();
    assert!(!running(pid), "the server still runs");
    assert!(!directory.exists(), "{directory:?} left behind");
    assert!(took < Duration::from_millis(900), "a clean shutdown, not the kill after a second: {took:?}");
    let err = d.get(&1).unwrap_err();
    assert!(matches!(err, Error::ManagerGone { pid: p } if p == pid), "{err}");
    // `shutdown` then drop: once.
    let manager = Manager::new().unwrap();
    manager.shutdown().unwrap();
    manager.shutdown().unwrap();
    assert!(!running(manager.pid()));
}

/// `terminate()` (SIGTERM) of the server: it leaves cleanly, its socket and directory gone, and
/// proxies say so.
fn a_terminated_server_removes_its_directory() {
    let manager = Manager::new().unwrap();
    let d = manager.dict::<u8, u8>().unwrap();
    d.set(&1, &1).unwrap();
    let directory = manager.address().parent().unwrap().to_path_buf();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(manager.pid() as i32), nix::sys::signal::SIGTERM)
        .unwrap();
    assert!(within(Duration::from_secs(3), || !running(manager.pid())).is_some(), "still running");
    assert!(!directory.exists(), "{directory:?} left behind");
    assert!(matches!(d.get(&1), Err(Error::ManagerGone { .. })));
}

fn the_server_leaves_when_its_owner_is_killed() {
    let (mut from_owner, mut to_test) = pipe::<(u32, PathBuf)>(false).unwrap();
    let mut owner = Process::new(move || -> multiprocessing::Result<()> {
        let manager = Manager::new()?;
        to_test.send(&(manager.pid(), manager.address().to_path_buf()))?;
        std::thread::sleep(Duration::from_secs(60));
        Ok(())
    });
    owner.start().unwrap();
    let (server, socket) = from_owner.recv().unwrap();
    assert!(running(server));
    owner.kill().unwrap();
    assert_eq!(owner.join().unwrap(), -9);
    let gone = within(Duration::from_secs(3), || !running(server));
    assert!(gone.is_some(), "the orphaned server still runs");
    let directory = socket.parent().unwrap();
    assert!(within(Duration::from_secs(1), || !directory.exists()).is_some(), "{directory:?} left behind");
    println!(
        "FIGURES the_server_leaves_when_its_owner_is_killed: server_gone_after={:.0}ms",
        gone.unwrap().as_secs_f64() * 1000.0
    );
}

fn leaked_manager_at_return() {
    let manager = Manager::new().unwrap();
    let d = manager.dict::<u8, u8>().unwrap();
    d.set(&1, &1).unwrap();
    println!("SERVER {} {}", manager.pid(), manager.address().display());
    std::mem::forget(manager);
}

fn leaked_manager_at_exit() {
    let manager = Manager::new().unwrap();
    println!("SERVER {} {}", manager.pid(), manager.address().display());
    std::mem::forget(manager);
    std::process::exit(3);
}

fn at_exit_the_server_is_stopped() {
    for (scenario, code) in [("leaked_manager_at_return", 0), ("leaked_manager_at_exit", 3)] {
        let (status, output) = harness::scenario(scenario);
        assert_eq!(status.code(), Some(code), "{scenario}: {output}");
        let line = output.lines().find(|l| l.starts_with("SERVER ")).expect("the server's line");
        let mut words = line.split(' ').skip(1);
        let pid: u32 = words.next().unwrap().parse().unwrap();
        let socket = Path::new(words.next().unwrap());
        assert!(!running(pid), "{scenario}: the server outlived the program");
        assert!(!socket.parent().unwrap().exists(), "{scenario}: {socket:?}'s directory left behind");
    }
}

/// Garbage, a body that makes no sense, a frame cut short and a client that stops half-way: each
/// costs at most its own connection, and the server answers the others all along.
fn bytes_that_are_not_requests_hurt_nobody() {
    let manager = Manager::new().unwrap();
    let d = manager.dict::<u32, u32>().unwrap();
    d.set(&1, &1).unwrap();
    let connect = || {
        let stream = UnixStream::connect(manager.address()).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        stream
    };
    // Not a frame: the server closes the connection (end of file here, not a hang).
    let mut garbage = connect();
    garbage.write_all(b"GET / HTTP/1.1\r\nHost: manager\r\n\r\n").unwrap();
    let mut buffer = [0u8; 64];
    assert_eq!(garbage.read(&mut buffer).unwrap(), 0);
    // A frame whose body is no request (operation 99): refused with a reason, connection kept.
    let mut nonsense = connect();
    let body = [99u8, 1, 0, 0, 0];
    for _ in 0..2 {
        nonsense.write_all(&wire::header(body.len())).unwrap();
        nonsense.write_all(&body).unwrap();
        let mut header = [0u8; wire::HEADER_LEN];
        nonsense.read_exact(&mut header).unwrap();
        let mut reply = vec![0u8; wire::parse_header(&header).unwrap()];
        nonsense.read_exact(&mut reply).unwrap();
        assert_eq!(reply[0], 3, "status REFUSED");
        assert!(String::from_utf8_lossy(&reply[1..]).contains("unknown operation 99"));
    }
    // Half a request, left hanging; and a header announcing a gigabyte, then 1 MB, then silence.
    let mut half = connect();
    half.write_all(&wire::header(1000)).unwrap();
    half.write_all(&[7u8; 10]).unwrap();
    let mut huge = connect();
    huge.write_all(&wire::header(multiprocessing::MAX_MESSAGE_SIZE)).unwrap();
    huge.write_all(&vec![0u8; 1 << 20]).unwrap();
    // The server answers the proxies meanwhile, at once.
    let asked = Instant::now();
    for i in 0..100 {
        d.set(&i, &(i + 1)).unwrap();
    }
    assert!(asked.elapsed() < Duration::from_secs(2));
    drop(half);
    drop(huge);
    // Random bytes after a valid header, many times: errors, never a panic.
    let mut rng = Rng(clock_seed());
    for _ in 0..200 {
        let mut stream = connect();
        let len = rng.below(64) as usize;
        let mut body: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
        if body.first() == Some(&23) {
            body[0] = 0; // not `Shutdown` (23), which would end the server
        }
        stream.write_all(&wire::header(len)).unwrap();
        stream.write_all(&body).unwrap();
        let mut header = [0u8; wire::HEADER_LEN];
        match stream.read_exact(&mut header) {
            Ok(()) => {
                let mut reply = vec![0u8; wire::parse_header(&header).unwrap()];
                stream.read_exact(&mut reply).unwrap();
            }
            Err(e) => panic!("no reply to random bytes: {e}"),
        }
    }
    assert_eq!(d.get(&99).unwrap(), Some(100));
    assert!(running(manager.pid()));
}

/// A thread makes requests without pause while the main thread forks children that use the
/// same proxy: a fork copies no lock of the manager's, and each child makes its own connection.
fn forks_while_another_thread_is_mid_request() {
    const CHILDREN: u32 = 40;
    let manager = Manager::new().unwrap();
    let d = manager.dict::<u32, u32>().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let requests = Arc::new(AtomicU64::new(0));
    let hammer = std::thread::spawn({
        let (d, stop, requests) = (d.clone(), stop.clone(), requests.clone());
        move || {
            while !stop.load(Ordering::Relaxed) {
                d.set(&u32::MAX, &7).unwrap();
                assert_eq!(d.get(&u32::MAX).unwrap(), Some(7));
                requests.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let started = Instant::now();
    for c in 0..CHILDREN {
        let d = d.clone();
        let mut child = Process::new(move || -> multiprocessing::Result<()> {
            for i in 0..20 {
                d.set(&(c * 100 + i), &c)?;
            }
            Ok(())
        });
        child.start().unwrap();
        assert_eq!(child.join_timeout(Duration::from_secs(10)).unwrap(), Some(0), "child {c} hung or failed");
    }
    stop.store(true, Ordering::Relaxed);
    hammer.join().unwrap();
    assert_eq!(d.len().unwrap(), (CHILDREN * 20 + 1) as usize);
    println!(
        "FIGURES forks_while_another_thread_is_mid_request: forks={CHILDREN} hangs=0 \
         thread_requests={} time={:.1}s",
        requests.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
}
