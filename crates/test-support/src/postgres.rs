//! A throwaway PostgreSQL server for the tests of one test binary (and for `dimby bench store`),
//! and a fresh database in it for each test.
//!
//! The server starts on first use (one per test binary, shared by its tests; [`Server::start`]
//! starts one of its own) from the PostgreSQL
//! installed on the machine: the newest `/usr/lib/postgresql/<version>/bin` (Debian's layout), or
//! the directory in `DIMBY_POSTGRES_BIN`. It runs in a temporary directory (data, log and Unix
//! socket), on an ephemeral port of 127.0.0.1 only, with one superuser `dimby` whose random password
//! TCP connections must give (`scram-sha-256`), and with `fsync` off (a throwaway). PostgreSQL
//! refuses to run as root, so when the tests run as root the server runs as the `postgres` user
//! (`runuser`), which Debian's package creates. A watchdog shell holds the server: it waits for the
//! test binary's end of a pipe to close (the binary exited, however it exited), then stops the
//! server (fast shutdown) and removes the directory. Each test gets its own database,
//! `CREATE DATABASE t_<pid>_<n>`.
//!
//! Without PostgreSQL installed the tests fail, saying how to install it (`apt-get install
//! postgresql`), unless `DIMBY_SKIP_POSTGRES=1`: then each says it was skipped and passes.

#![allow(
    clippy::disallowed_methods,
    reason = "a real server starting up, waited for in real time"
)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::Connection as _;
use sqlx::postgres::PgConnection;

/// The superuser the tests connect as.
const USER: &str = "dimby";

/// The variable that lets the tests pass without PostgreSQL installed (they say they skipped).
const SKIP: &str = "DIMBY_SKIP_POSTGRES";

/// The variable naming a directory with `initdb` and `postgres`, instead of Debian's.
const BIN: &str = "DIMBY_POSTGRES_BIN";

/// How long the server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The watchdog: it starts the server, waits for its standard input to reach end of file (the test
/// binary is gone) and then stops the server and removes its directory. `$1` is the `postgres`
/// binary, `$2` the directory, `$3` the port; the rest are more of the server's arguments.
const WATCHDOG: &str = r#"
postgres=$1 dir=$2 port=$3
shift 3
"$postgres" -D "$dir/data" -p "$port" -c listen_addresses=127.0.0.1 -c unix_socket_directories="$dir" \
  -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 "$@" \
  >"$dir/postgres.log" 2>&1 &
server=$!
cat >/dev/null
kill -INT "$server" 2>/dev/null
wait "$server"
rm -rf "$dir"
"#;

/// The TLS server's certificates, made with openssl(1): a CA of its own and the server's
/// certificate for 127.0.0.1 signed by it. `$1` is the directory.
const MAKE_CERTIFICATES: &str = r#"
set -e
cd "$1"
curve="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
openssl req -x509 $curve -keyout ca.key -out ca.crt -days 2 -subj /CN=dimby-test-ca 2>/dev/null
openssl req $curve -keyout server.key -out server.csr -subj /CN=127.0.0.1 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > server.ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
  -extfile server.ext -out server.crt 2>/dev/null
chmod 600 server.key
"#;

/// A running server.
pub struct Server {
    port: u16,
    password: String,
    /// With TLS: the CA that signed its certificate (for `sslrootcert`).
    tls_root: Option<PathBuf>,
    /// The watchdog, whose standard input stays open for as long as the test binary runs.
    _watchdog: Child,
}

impl Server {
    /// The URL of `database` on this server, as the `dimby` superuser with its password.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://{USER}:{}@127.0.0.1:{}/{database}",
            self.password, self.port
        )
    }

    /// The password, so that tests can check it never shows.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The CA certificate of a TLS server (see [`tls_server`]), for `sslrootcert`.
    pub fn tls_root(&self) -> Option<&Path> {
        self.tls_root.as_deref()
    }
}

/// The server of this test binary, started on first use; `None` when PostgreSQL is not installed
/// and `DIMBY_SKIP_POSTGRES=1` (the caller skips). Panics, saying why, when it cannot start.
pub fn server() -> Option<&'static Server> {
    static SERVER: OnceLock<Result<Option<Server>, String>> = OnceLock::new();
    match SERVER.get_or_init(Server::start) {
        Ok(Some(server)) => Some(server),
        Ok(None) => {
            skipped();
            None
        }
        Err(message) => panic!("{message}"),
    }
}

/// A second server of this test binary that takes TLS connections only (`hostssl` in its
/// `pg_hba.conf`), with a certificate for 127.0.0.1 signed by a CA of its own
/// ([`Server::tls_root`]); `None` when the tests are skipped.
pub fn tls_server() -> Option<&'static Server> {
    static SERVER: OnceLock<Result<Option<Server>, String>> = OnceLock::new();
    match SERVER.get_or_init(|| start(Tls::On)) {
        Ok(Some(server)) => Some(server),
        Ok(None) => {
            skipped();
            None
        }
        Err(message) => panic!("{message}"),
    }
}

/// Whether a server takes TLS connections (only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tls {
    Off,
    On,
}

/// A new, empty database on the server: its URL. `None` when the tests are skipped.
///
/// # Panics
/// When the server cannot be started or the database created.
pub async fn database() -> Option<String> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let server = server()?;
    let name = format!(
        "t_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    Some(
        server
            .create_database(&name)
            .await
            .expect("create the test database"),
    )
}

/// Says, once per test binary on the real standard error (not captured), that the tests are
/// skipped, and in each test's captured output that this one is.
fn skipped() {
    static SAID: OnceLock<()> = OnceLock::new();
    SAID.get_or_init(|| {
        let _ = writeln!(
            std::io::stderr(),
            "PostgreSQL is not installed and {SKIP}=1: the PostgreSQL store tests are skipped"
        );
    });
    eprintln!("skipped: PostgreSQL is not installed ({SKIP}=1)");
}

impl Server {
    /// Starts a server of its own (it stops when this process exits): `Ok(None)` if PostgreSQL
    /// is not installed and `DIMBY_SKIP_POSTGRES=1` allows skipping, an error naming what went
    /// wrong (with the server's log) otherwise.
    ///
    /// # Errors
    /// When PostgreSQL is not installed (without the skip) or does not come up.
    pub fn start() -> Result<Option<Self>, String> {
        start(Tls::Off)
    }

    /// Creates the database `name` (lower-case letters, digits and underscores) and returns its
    /// URL.
    ///
    /// # Errors
    /// When the server refuses (the name taken, a bad name).
    pub async fn create_database(&self, name: &str) -> Result<String, String> {
        if !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(format!("{name:?} is not a plain database name"));
        }
        let mut admin = PgConnection::connect(&self.url("postgres"))
            .await
            .map_err(|e| format!("cannot connect to the throwaway server: {e}"))?;
        // Checked above: letters, digits and underscores, nothing to quote.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .map_err(|e| format!("cannot create the database {name}: {e}"))?;
        admin
            .close()
            .await
            .map_err(|e| format!("closing the admin connection: {e}"))?;
        Ok(self.url(name))
    }
}

/// Starts the server: `Ok(None)` if PostgreSQL is not installed and the tests may skip, an error
/// naming what went wrong (with the server's log) otherwise.
fn start(tls: Tls) -> Result<Option<Server>, String> {
    let Some(bin) = find_bin() else {
        if std::env::var(SKIP).as_deref() == Ok("1") {
            return Ok(None);
        }
        return Err(format!(
            "PostgreSQL is not installed: no initdb in /usr/lib/postgresql/*/bin (nor in ${BIN}). \
             The PostgreSQL store tests start a throwaway server from it: install it with \
             `apt-get install postgresql` (Debian; .ci/run does), or set {SKIP}=1 to skip these \
             tests knowingly"
        ));
    };
    let owner = if running_as_root() {
        Some(postgres_user()?)
    } else {
        None
    };
    // A port can be taken between looking it up and the server binding it: try a few.
    let mut last = String::new();
    for _ in 0..3 {
        match attempt(&bin, owner.as_ref(), tls) {
            Ok(server) => return Ok(Some(server)),
            Err(error) => last = error,
        }
    }
    Err(last)
}

/// The directory with `initdb`, `postgres` and `pg_isready`.
fn find_bin() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(BIN) {
        let dir = PathBuf::from(dir);
        return dir.join("initdb").is_file().then_some(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// Whether the tests run as root (`/proc/self` belongs to the process's user).
fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}

/// The user and group ids of `postgres`, who runs the server when the tests run as root.
struct Owner {
    uid: u32,
    gid: u32,
}

fn postgres_user() -> Result<Owner, String> {
    let id = |flag: &str| -> Result<u32, String> {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .map_err(|e| format!("cannot run id(1): {e}"))?;
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .map_err(|_| {
                "the tests run as root, PostgreSQL refuses to, and there is no postgres user to \
                 run it as (Debian's `apt-get install postgresql` creates it)"
                    .to_owned()
            })
    };
    Ok(Owner {
        uid: id("-u")?,
        gid: id("-g")?,
    })
}

/// `program` with `args`, run as `postgres` (through runuser) when the tests run as root.
fn as_owner(owner: Option<&Owner>, program: &Path, args: &[&str]) -> Command {
    let mut command = match owner {
        Some(_) => {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        }
        None => Command::new(program),
    };
    command.args(args);
    command
}

/// A random password (hex): the standard library's random hash keys, twice.
fn random_password() -> String {
    use std::hash::{BuildHasher as _, RandomState};
    let half = || RandomState::new().hash_one(std::process::id());
    format!("{:016x}{:016x}", half(), half())
}

/// One try at setting a server up and starting it.
fn attempt(bin: &Path, owner: Option<&Owner>, tls: Tls) -> Result<Server, String> {
    let dir = tempfile::Builder::new()
        .prefix("dimby-postgres-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary directory: {e}"))?
        // The watchdog removes it (it runs as its owner); the test binary leaves it alone.
        .keep();
    let password = random_password();
    if let Err(error) = initdb(bin, owner, &dir, &password) {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(error);
    }
    let tls_root = match tls {
        Tls::Off => None,
        Tls::On => match tls_only(owner, &dir) {
            Ok(root) => Some(root),
            Err(error) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(error);
            }
        },
    };
    start_server(bin, owner, &dir, password, tls_root)
}

/// Makes the certificates in `dir` and lets the cluster take TLS connections only.
fn tls_only(owner: Option<&Owner>, dir: &Path) -> Result<PathBuf, String> {
    let made = as_owner(
        owner,
        Path::new("/bin/sh"),
        &["-c", MAKE_CERTIFICATES, "sh", utf8(dir)?],
    )
    .output()
    .map_err(|e| format!("cannot run openssl(1) through sh: {e}"))?;
    if !made.status.success() {
        return Err(format!(
            "making the test server's certificates failed (is openssl installed?): {}",
            String::from_utf8_lossy(&made.stderr)
        ));
    }
    // Only TLS over TCP; the Unix socket (used by nobody) stays trusted.
    std::fs::write(
        dir.join("data/pg_hba.conf"),
        "local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256\n",
    )
    .map_err(|e| format!("cannot write pg_hba.conf: {e}"))?;
    Ok(dir.join("ca.crt"))
}

/// A path as an argument of the commands (`initdb`, the watchdog), which take UTF-8 here.
fn utf8(path: &Path) -> Result<&str, String> {
    path.to_str()
        .ok_or_else(|| format!("{} is not UTF-8", path.display()))
}

/// Creates the cluster in `dir/data`, owned by whoever runs the server, with the `dimby`
/// superuser and `password`.
fn initdb(bin: &Path, owner: Option<&Owner>, dir: &Path, password: &str) -> Result<(), String> {
    let password_file = dir.join("password");
    std::fs::write(&password_file, format!("{password}\n"))
        .map_err(|e| format!("cannot write the password file: {e}"))?;
    if let Some(owner) = owner {
        for path in [dir, &password_file] {
            std::os::unix::fs::chown(path, Some(owner.uid), Some(owner.gid))
                .map_err(|e| format!("cannot hand {} to postgres: {e}", path.display()))?;
        }
    }
    let data = format!("{}/data", utf8(dir)?);
    let pwfile = format!("--pwfile={}", utf8(&password_file)?);
    let initdb = as_owner(
        owner,
        &bin.join("initdb"),
        &[
            "-D",
            &data,
            "-U",
            USER,
            &pwfile,
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        ],
    )
    .output()
    .map_err(|e| format!("cannot run {}: {e}", bin.join("initdb").display()))?;
    let _ = std::fs::remove_file(&password_file);
    if !initdb.status.success() {
        return Err(format!(
            "initdb failed ({}): {}{}",
            initdb.status,
            String::from_utf8_lossy(&initdb.stdout),
            String::from_utf8_lossy(&initdb.stderr)
        ));
    }
    Ok(())
}

/// Starts the server on the cluster in `dir` under its watchdog, on a free port, and waits until
/// it accepts connections.
fn start_server(
    bin: &Path,
    owner: Option<&Owner>,
    dir: &Path,
    password: String,
    tls_root: Option<PathBuf>,
) -> Result<Server, String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map_err(|e| format!("cannot find a free port: {e}"))?
        .port();
    let postgres = bin.join("postgres");
    let port_text = port.to_string();
    let mut args = vec![
        "-c".to_owned(),
        WATCHDOG.to_owned(),
        "sh".to_owned(),
        utf8(&postgres)?.to_owned(),
        utf8(dir)?.to_owned(),
        port_text.clone(),
    ];
    if tls_root.is_some() {
        let dir = utf8(dir)?;
        for setting in [
            "ssl=on".to_owned(),
            format!("ssl_cert_file={dir}/server.crt"),
            format!("ssl_key_file={dir}/server.key"),
        ] {
            args.extend(["-c".to_owned(), setting]);
        }
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut watchdog = as_owner(owner, Path::new("/bin/sh"), &args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the server's watchdog: {e}"))?;
    let log = dir.join("postgres.log");
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let ready = Command::new(bin.join("pg_isready"))
            .args([
                "-q",
                "-h",
                "127.0.0.1",
                "-p",
                &port_text,
                "-U",
                USER,
                "-d",
                "postgres",
            ])
            .status()
            .is_ok_and(|status| status.success());
        if ready {
            return Ok(Server {
                port,
                password,
                tls_root,
                _watchdog: watchdog,
            });
        }
        let exited = watchdog.try_wait().ok().flatten();
        // The server logs a FATAL line for each connection tried while it starts up; any other
        // is the server itself giving up (a port taken, a bad setting).
        let server_gone = std::fs::read_to_string(&log).is_ok_and(|log| {
            log.lines().any(|line| {
                line.contains("FATAL") && !line.contains("the database system is starting up")
            })
        });
        if exited.is_some() || server_gone || Instant::now() > deadline {
            let log_text = std::fs::read_to_string(&log).unwrap_or_default();
            // Closing its input makes the watchdog stop what runs and remove the directory.
            drop(watchdog.stdin.take());
            let _ = watchdog.wait();
            return Err(format!(
                "the test PostgreSQL server on port {port} did not come up: {}\n{log_text}",
                exited.map_or_else(|| "not ready in time".to_owned(), |s| format!("{s}"))
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
