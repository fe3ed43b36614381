//! Loopback ports held for this process. A port picked by binding port 0 and closing the
//! socket is free only for a moment: the kernel may hand it to the next outgoing connection
//! or listener, and another process may pick it too. These come from below the kernel's
//! ephemeral range, which it never hands out by itself, and each is held by an exclusive
//! `flock` on a file named after it, which users of this crate in every process respect and
//! which the kernel drops when the process ends.

use std::fs::{File, OpenOptions};
use std::hash::{BuildHasher, RandomState};
use std::net::{Ipv4Addr, TcpListener};
use std::os::fd::AsRawFd;
use std::path::PathBuf;

use crate::{Error, Result};

/// The lowest port handed out.
const LOWEST: u16 = 10_000;

/// A loopback port held for this process until dropped. Whatever is to listen on it binds
/// it while this lives (a [`Server`](crate::Server) holds its own across restarts).
#[derive(Debug)]
pub struct Port {
    number: u16,
    _lock: File,
}

impl Port {
    /// Reserves a port that nothing listens on now and no other holder of a `Port` has.
    pub fn reserve() -> Result<Port> {
        let ephemeral = first_ephemeral_port();
        if ephemeral <= LOWEST {
            return Err(Error::new(format!(
                "no ports between {LOWEST} and the ephemeral range, which starts at {ephemeral} \
                 (/proc/sys/net/ipv4/ip_local_port_range)"
            )));
        }
        let dir = lock_dir();
        std::fs::create_dir_all(&dir).map_err(|e| Error::new(format!("{}: {e}", dir.display())))?;
        let span = u64::from(ephemeral - LOWEST);
        // A random start: processes do not queue for the same ports, and a port a dropped
        // server had is not handed out again at once (a client of the old one might still
        // be trying it).
        let start = RandomState::new().hash_one(std::process::id()) % span;
        for offset in 0..span {
            let number = LOWEST + ((start + offset) % span) as u16;
            let path = dir.join(number.to_string());
            let lock = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(|e| Error::new(format!("{}: {e}", path.display())))?;
            if try_lock(&lock) && TcpListener::bind((Ipv4Addr::LOCALHOST, number)).is_ok() {
                return Ok(Port {
                    number,
                    _lock: lock,
                });
            }
        }
        Err(Error::new(format!(
            "every loopback port from {LOWEST} to {ephemeral} is taken"
        )))
    }

    /// The port number.
    pub fn number(&self) -> u16 {
        self.number
    }
}

/// Where the lock files live: one directory for every process on the machine.
fn lock_dir() -> PathBuf {
    std::env::temp_dir().join("mariadb-cluster-ports")
}

/// The first port of the kernel's ephemeral range (32768 unless configured otherwise).
fn first_ephemeral_port() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// Takes an exclusive lock on `file` without waiting; false if another holder has it.
fn try_lock(file: &File) -> bool {
    // SAFETY: flock on a descriptor `file` owns and keeps open; the lock lives with it.
    // (std's File::try_lock is newer than the rust-version this crate keeps.)
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_port_is_not_handed_out_again_and_can_be_bound() {
        let ports: Vec<Port> = (0..20).map(|_| Port::reserve().unwrap()).collect();
        let mut numbers: Vec<u16> = ports.iter().map(Port::number).collect();
        numbers.sort_unstable();
        numbers.dedup();
        assert_eq!(numbers.len(), ports.len(), "{numbers:?}");
        assert!(
            numbers
                .iter()
                .all(|&n| n >= LOWEST && n < first_ephemeral_port())
        );
        TcpListener::bind((Ipv4Addr::LOCALHOST, ports[0].number())).unwrap();
    }

    #[test]
    fn the_lock_is_exclusive_until_dropped() {
        let port = Port::reserve().unwrap();
        let path = lock_dir().join(port.number().to_string());
        let other = File::open(&path).unwrap();
        assert!(
            !try_lock(&other),
            "a second open of the file must not get the lock"
        );
        drop(port);
        assert!(try_lock(&other));
    }
}
