//! Reference servers the benchmarks measure beside spin-logs, started on a
//! free loopback port and stopped when their closure returns.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn wait_for_port(port: u16) {
    wait_for_port_within(port, Duration::from_secs(10));
}

/// [`wait_for_port`] for a server that compiles before it listens.
pub fn wait_for_port_within(port: u16, limit: Duration) {
    let deadline = Instant::now() + limit;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "server on port {port} never came up"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// nginx (Debian's package, `sendfile on`) serving `dir`.
pub fn with_nginx<T>(dir: &Path, f: impl FnOnce(&str) -> T) -> T {
    let nginx = spin_logs_tests::services::debian_binary("nginx", "nginx").expect("nginx");
    let port = spin_logs_tests::services::free_port().expect("port");
    let conf_dir = tempfile::tempdir().expect("nginx dir");
    let d = conf_dir.path().display();
    let conf = format!(
        "daemon off; worker_processes 2; pid {d}/nginx.pid; error_log stderr;\n\
         events {{ worker_connections 64; }}\n\
         http {{ access_log off; sendfile on; tcp_nopush on;\n\
           types {{ text/html html; text/css css; text/javascript js; }}\n\
           client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d};\n\
           uwsgi_temp_path {d}; scgi_temp_path {d};\n\
           server {{ listen 127.0.0.1:{port}; root {}; }} }}\n",
        dir.display()
    );
    std::fs::write(conf_dir.path().join("nginx.conf"), conf).expect("nginx.conf");
    let _server = Killed(
        Command::new(nginx)
            .arg("-p")
            .arg(conf_dir.path())
            .arg("-c")
            .arg(conf_dir.path().join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx"),
    );
    wait_for_port(port);
    f(&format!("http://127.0.0.1:{port}"))
}
