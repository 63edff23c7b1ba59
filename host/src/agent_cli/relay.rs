//! The sandbox's side of the proxy: `peerpressure sandbox-relay`, run as the first process
//! inside the bubblewrap namespace. The namespace's network has only its own loopback, so
//! this forwards connections to `127.0.0.1:PORT` (the CLI's model endpoint, MCP server and
//! HTTP proxy) over the unix socket the host bind-mounts in, then runs the CLI and exits
//! with its status. Plain threads: it runs before anything else and must stay small.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Copies one direction until either side closes, then half-closes the other.
fn pump(mut from: impl Read, mut to: impl Write, done: impl FnOnce()) {
    let mut buf = [0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    done();
}

fn forward(tcp: TcpStream, socket: &Path) {
    let Ok(unix) = UnixStream::connect(socket) else {
        return;
    };
    let (Ok(tcp_read), Ok(unix_read)) = (tcp.try_clone(), unix.try_clone()) else {
        return;
    };
    let unix_write = unix;
    let tcp_write = tcp;
    let up = std::thread::spawn(move || {
        let closer = unix_write.try_clone().ok();
        pump(tcp_read, unix_write, move || {
            if let Some(u) = closer {
                let _ = u.shutdown(Shutdown::Write);
            }
        })
    });
    let closer = tcp_write.try_clone().ok();
    pump(unix_read, tcp_write, move || {
        if let Some(t) = closer {
            let _ = t.shutdown(Shutdown::Write);
        }
    });
    let _ = up.join();
}

/// Listens on `127.0.0.1:port`, forwards to `socket`, runs `command`; returns its exit code.
pub fn run(socket: PathBuf, port: u16, command: &[String]) -> i32 {
    let listener = match TcpListener::bind(("127.0.0.1", port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("peerpressure sandbox-relay: cannot listen on 127.0.0.1:{port}: {e}");
            return 125;
        }
    };
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let socket = socket.clone();
            std::thread::spawn(move || forward(stream, &socket));
        }
    });
    let Some((program, args)) = command.split_first() else {
        eprintln!("peerpressure sandbox-relay: no command to run");
        return 125;
    };
    match Command::new(program).args(args).status() {
        Ok(status) => status.code().unwrap_or(128 + 9),
        Err(e) => {
            eprintln!("peerpressure sandbox-relay: cannot start {program}: {e}");
            127
        }
    }
}
