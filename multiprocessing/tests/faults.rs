//! The fault suite: processes killed at random instants, forks while other threads churn, bad
//! bytes. Each runs in a fresh process (see harness/mod.rs).

mod harness;

fn main() {
    harness::main(&[], &[]);
}
