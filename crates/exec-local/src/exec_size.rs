//! The kernel's limits on what `execve` accepts, checked before spawning so
//! that a command or environment too large to run is the client's clear 400
//! instead of an `E2BIG` from deep inside the spawn.
//!
//! Linux refuses a single argument or environment string longer than
//! `MAX_ARG_STRLEN` (32 pages, counting its terminating NUL), and all of
//! them together (with the executable's name and one pointer per string)
//! beyond a quarter of the stack limit, capped at three quarters of 8 MiB
//! and never below `ARG_MAX` (32 pages). See `bprm_stack_limits` in
//! `fs/exec.c`.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use agentproc_core::exec::{Env, SpawnError};

/// The longest single string, counting its NUL (`MAX_ARG_STRLEN`).
const MAX_ARG_STRLEN: usize = 32 * 4096;
/// The floor of the total (`ARG_MAX` in the kernel's headers).
const ARG_MAX_FLOOR: u64 = 32 * 4096;
/// The cap of the total: three quarters of the default 8 MiB stack limit.
const ARG_MAX_CAP: u64 = 8 * 1024 * 1024 / 4 * 3;
const POINTER: u64 = std::mem::size_of::<usize>() as u64;

/// Refuses a spec the kernel would refuse with `E2BIG`.
pub(crate) fn check(executable: &OsStr, args: &[OsString], env: &Env) -> Result<(), SpawnError> {
    let refuse = |reason: String| Err(SpawnError::Refused { reason });
    if let Some(arg) = args.iter().find(|arg| arg.len() >= MAX_ARG_STRLEN) {
        return refuse(format!(
            "The command is {} bytes, above the {} bytes the kernel accepts in one argument (MAX_ARG_STRLEN); pass large inputs through a file or standard input instead.",
            arg.len(),
            MAX_ARG_STRLEN - 1
        ));
    }
    let mut total = executable.len() as u64 + 1 + POINTER;
    for arg in args {
        total += arg.len() as u64 + 1 + POINTER;
    }
    for (name, value) in env {
        // Each variable is one `NAME=value` string.
        let len = name.len() + 1 + value.len();
        if len >= MAX_ARG_STRLEN {
            return refuse(format!(
                "Environment variable {:?} is {len} bytes with its name, above the {} bytes the kernel accepts in one variable (MAX_ARG_STRLEN).",
                String::from_utf8_lossy(name.as_bytes()),
                MAX_ARG_STRLEN - 1
            ));
        }
        total += len as u64 + 1 + POINTER;
    }
    let limit = total_limit();
    if total > limit {
        return refuse(format!(
            "The command and its environment take {total} bytes, above the {limit} bytes the kernel accepts for both together (ARG_MAX: a quarter of the stack limit); pass large inputs through a file or standard input instead."
        ));
    }
    Ok(())
}

/// The reason given when the kernel itself says `E2BIG`.
pub(crate) fn too_big_for_the_kernel() -> String {
    format!(
        "The command and its environment are too large for the kernel to run (one argument or variable may hold at most {} bytes (MAX_ARG_STRLEN), all together at most {} bytes (ARG_MAX)).",
        MAX_ARG_STRLEN - 1,
        total_limit()
    )
}

/// What the kernel allows for all strings and pointers together.
fn total_limit() -> u64 {
    let stack = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_STACK)
        .map_or(8 * 1024 * 1024, |(soft, _)| soft);
    (stack / 4).clamp(ARG_MAX_FLOOR, ARG_MAX_CAP)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, usize)]) -> Env {
        pairs
            .iter()
            .map(|(name, len)| (OsString::from(name), OsString::from("x".repeat(*len))))
            .collect()
    }

    #[test]
    fn one_argument_may_hold_max_arg_strlen_minus_its_nul() {
        let sh = OsStr::new("/bin/sh");
        let fits = vec![OsString::from("-c"), OsString::from("x".repeat(131_071))];
        assert!(check(sh, &fits, &Env::new()).is_ok());
        let over = vec![OsString::from("-c"), OsString::from("x".repeat(131_072))];
        let Err(SpawnError::Refused { reason }) = check(sh, &over, &Env::new()) else {
            panic!("refused");
        };
        assert!(reason.contains("131072 bytes"), "{reason}");
        assert!(reason.contains("MAX_ARG_STRLEN"), "{reason}");
    }

    #[test]
    fn a_variable_counts_its_name_and_equals_sign() {
        let sh = OsStr::new("/bin/sh");
        assert!(check(sh, &[], &env(&[("AB", 131_068)])).is_ok());
        let Err(SpawnError::Refused { reason }) = check(sh, &[], &env(&[("AB", 131_069)])) else {
            panic!("refused");
        };
        assert!(reason.contains("\"AB\""), "{reason}");
    }

    #[test]
    fn the_total_is_bounded_by_arg_max() {
        let sh = OsStr::new("/bin/sh");
        let limit = total_limit();
        let count = usize::try_from(limit / 100_000 + 2).expect("count");
        let names: Vec<String> = (0..count).map(|n| format!("V{n}")).collect();
        let many: Vec<(&str, usize)> = names.iter().map(|name| (name.as_str(), 100_000)).collect();
        let Err(SpawnError::Refused { reason }) = check(sh, &[], &env(&many)) else {
            panic!("refused");
        };
        assert!(reason.contains("ARG_MAX"), "{reason}");
        assert!(reason.contains(&limit.to_string()), "{reason}");
    }
}
