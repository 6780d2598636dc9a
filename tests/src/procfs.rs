//! Resource readings of a process from `/proc` (Linux): resident memory and open file
//! descriptors, for leak checks on a server child process; and raising this process's
//! open-files limit for tests that hold many sockets.

use std::io;
use std::process::Command;

/// Resident set size of process `pid`, in KiB (`VmRSS` in `/proc/<pid>/status`).
///
/// # Errors
/// When the file cannot be read or has no `VmRSS` line.
pub fn rss_kib(pid: u32) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| io::Error::other(format!("no VmRSS for pid {pid}")))
}

/// Open file descriptors of process `pid` (entries of `/proc/<pid>/fd`).
///
/// # Errors
/// When the directory cannot be read.
pub fn open_fds(pid: u32) -> io::Result<usize> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))?.count())
}

/// Makes sure this process (and children spawned afterwards, which inherit it) may open at
/// least `n` files, raising the soft limit up to the hard one with `prlimit(1)` when needed
/// (a default soft limit of 1024 is too low for a thousand sockets).
///
/// # Errors
/// When the limits cannot be read, the hard limit is below `n`, or `prlimit` fails.
pub fn ensure_open_files(n: u64) -> io::Result<()> {
    let limits = std::fs::read_to_string("/proc/self/limits")?;
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .ok_or_else(|| io::Error::other("no open-files line in /proc/self/limits"))?;
    let mut fields = line["Max open files".len()..].split_whitespace();
    let mut limit = || -> u64 {
        fields
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(u64::MAX) // "unlimited"
    };
    let (soft, hard) = (limit(), limit());
    if soft >= n {
        return Ok(());
    }
    if hard < n {
        return Err(io::Error::other(format!(
            "need {n} open files, hard limit is {hard}"
        )));
    }
    let status = Command::new("prlimit")
        .arg(format!("--pid={}", std::process::id()))
        .arg(format!("--nofile={n}:"))
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!("prlimit failed: {status}")))
    }
}
