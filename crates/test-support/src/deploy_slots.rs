//! The two colours' slots for `dimby deploy` on the stand-ins: shell scripts that start a colour
//! in standby (`dimby run --standby` from the config file `<colour>.toml` in the slots'
//! directory, which a scenario rewrites to give the next build its faults) and stop it. Dropping
//! the slots stops both colours, so a failed test leaves no process behind. The gate's log check
//! watches for 2 s (`DIMBY_DEPLOY__GATE_LOG_WINDOW`, 10 s by default): the scenarios are short.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The colours, as the scripts and configs name them.
pub const COLOURS: [&str; 2] = ["blue", "green"];

/// Both colours' slots in one directory.
#[derive(Debug)]
pub struct Slots {
    dir: PathBuf,
    admin: [SocketAddr; 2],
}

impl Slots {
    /// Writes both colours' start and stop scripts into `dir`, each colour with an admin server
    /// on a free loopback port and `admin_token`, running `exe`.
    ///
    /// # Panics
    /// When a script cannot be written.
    pub fn new(dir: &Path, exe: &Path, admin_token: &str) -> Self {
        let admin = [crate::free_port(), crate::free_port()];
        for (colour, admin) in COLOURS.iter().zip(admin) {
            std::fs::write(
                dir.join(format!("start-{colour}.sh")),
                format!(
                    "#!/bin/sh\n\
                     DIMBY_DEPLOY__COLOUR={colour} DIMBY_ADMIN__LISTEN={admin} \
                     DIMBY_ADMIN_TOKEN={admin_token} RUST_LOG=${{RUST_LOG:-info}} \
                     DIMBY_DEPLOY__GATE_LOG_WINDOW=2s \
                     nohup '{exe}' run --standby --config '{dir}/{colour}.toml' \
                     >> '{dir}/{colour}.log' 2>&1 &\n\
                     echo $! > '{dir}/{colour}.pid'\n",
                    exe = exe.display(),
                    dir = dir.display(),
                ),
            )
            .expect("a start script");
            std::fs::write(
                dir.join(format!("stop-{colour}.sh")),
                format!(
                    "#!/bin/sh\n\
                     f='{dir}/{colour}.pid'\n\
                     [ -f \"$f\" ] || exit 0\n\
                     pid=$(cat \"$f\"); rm -f \"$f\"\n\
                     kill \"$pid\" 2>/dev/null || exit 0\n\
                     for i in $(seq 1 300); do\n\
                       kill -0 \"$pid\" 2>/dev/null || exit 0\n\
                       grep -q ') Z' \"/proc/$pid/stat\" 2>/dev/null && exit 0\n\
                       sleep 0.1\n\
                     done\n\
                     kill -9 \"$pid\" 2>/dev/null\n\
                     exit 0\n",
                    dir = dir.display(),
                ),
            )
            .expect("a stop script");
        }
        std::fs::write(
            dir.join("prepare.sh"),
            format!(
                "#!/bin/sh\n\
                 echo \"$DIMBY_DEPLOY_COLOUR $DIMBY_DEPLOY_VERSION $DIMBY_DEPLOY_COMMIT\" >> '{}/prepared.log'\n",
                dir.display()
            ),
        )
        .expect("a prepare script");
        Self {
            dir: dir.to_path_buf(),
            admin,
        }
    }

    /// What the slots' `prepare` command was run for, one line per deploy in order:
    /// `colour version commit`.
    pub fn prepared(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("prepared.log"))
            .map(|text| text.lines().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    /// The `[deploy.blue]` and `[deploy.green]` sections naming the scripts, for a deploy config.
    /// Their `prepare` only notes what it was run for ([`Slots::prepared`]): the slots' scripts
    /// run the one binary.
    pub fn sections(&self, exe: &Path) -> String {
        let mut sections = String::new();
        for (colour, admin) in COLOURS.iter().zip(self.admin) {
            // Writing to a String cannot fail.
            let _ = write!(
                sections,
                "\n[deploy.{colour}]\nadmin_url = \"http://{admin}\"\n\
                 start = [\"sh\", \"{dir}/start-{colour}.sh\"]\n\
                 stop = [\"sh\", \"{dir}/stop-{colour}.sh\"]\n\
                 prepare = [\"sh\", \"{dir}/prepare.sh\"]\n\
                 binary = \"{exe}\"\nconfig = \"{dir}/{colour}.toml\"\n",
                exe = exe.display(),
                dir = self.dir.display(),
            );
        }
        sections
    }

    /// The admin server's URL of `colour` (`"blue"` or `"green"`).
    ///
    /// # Panics
    /// For another colour.
    pub fn admin_url(&self, colour: &str) -> String {
        let index = COLOURS
            .iter()
            .position(|c| *c == colour)
            .expect("blue or green");
        format!("http://{}", self.admin[index])
    }

    /// The path of a colour's `start` or `stop` script.
    pub fn script(&self, kind: &str, colour: &str) -> String {
        self.dir
            .join(format!("{kind}-{colour}.sh"))
            .display()
            .to_string()
    }

    /// The next build in `colour` runs with this config.
    ///
    /// # Panics
    /// When the file cannot be written.
    pub fn configure(&self, colour: &str, config: &str) {
        std::fs::write(self.dir.join(format!("{colour}.toml")), config).expect("a slot config");
    }

    /// Starts both colours in standby, as at boot.
    ///
    /// # Panics
    /// When a script fails.
    pub fn start_both(&self) {
        for colour in COLOURS {
            let started = std::process::Command::new("sh")
                .arg(self.dir.join(format!("start-{colour}.sh")))
                .status()
                .expect("a start script");
            assert!(started.success(), "start-{colour}.sh failed");
        }
    }

    /// Stops both colours (SIGTERM, then SIGKILL past 30 s).
    pub fn stop_both(&self) {
        for colour in COLOURS {
            let _ = std::process::Command::new("sh")
                .arg(self.dir.join(format!("stop-{colour}.sh")))
                .status();
        }
    }
}

impl Drop for Slots {
    fn drop(&mut self) {
        self.stop_both();
    }
}
