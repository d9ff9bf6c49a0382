//! The seccomp filter of an isolated command, compiled to classic BPF for
//! bubblewrap's `--seccomp FD` (bubblewrap installs it last, after setting
//! up the namespaces, which need the system calls the filter refuses).
//!
//! Always refused (`EPERM`): `ptrace` and `process_vm_readv`/`writev` (no
//! reading or steering other processes' memory), and `io_uring_*` (which
//! would sidestep the filter). With network `none`: `socket` for every
//! family but `AF_UNIX`, so not even a loopback or netlink socket can be
//! made, beside the empty network namespace.

use std::collections::BTreeMap;

use agentproc_core::exec::NetworkAccess;
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

/// The filter for a command with `network`, as the bytes of its BPF
/// instructions (`struct sock_filter`, native endian), or why it cannot be
/// built here.
pub(crate) fn filter_bytes(network: NetworkAccess) -> Result<Vec<u8>, String> {
    let arch = TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|_| format!("no seccomp filter for {}", std::env::consts::ARCH))?;
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for call in [
        libc::SYS_ptrace,
        libc::SYS_process_vm_readv,
        libc::SYS_process_vm_writev,
        libc::SYS_io_uring_setup,
        libc::SYS_io_uring_enter,
        libc::SYS_io_uring_register,
    ] {
        rules.insert(call, Vec::new());
    }
    if network == NetworkAccess::None {
        let not_unix = SeccompCondition::new(
            0,
            SeccompCmpArgLen::Dword,
            SeccompCmpOp::Ne,
            libc::AF_UNIX as u64,
        )
        .map_err(|error| error.to_string())?;
        rules.insert(
            libc::SYS_socket,
            vec![SeccompRule::new(vec![not_unix]).map_err(|error| error.to_string())?],
        );
    }
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .map_err(|error| error.to_string())?;
    let program: BpfProgram = filter
        .try_into()
        .map_err(|error: seccompiler::BackendError| error.to_string())?;
    let mut bytes = Vec::with_capacity(program.len() * 8);
    for instruction in &program {
        bytes.extend_from_slice(&instruction.code.to_ne_bytes());
        bytes.push(instruction.jt);
        bytes.push(instruction.jf);
        bytes.extend_from_slice(&instruction.k.to_ne_bytes());
    }
    Ok(bytes)
}
