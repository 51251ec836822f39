//! A time daemon's life, as chronyd lives it: chronyd's command line
//! ([`Options`]), the configuration (a file, or directives given on the
//! command line), going to the background or not, where messages go
//! (syslog, standard error, a file), the PID file, dropping root, and
//! then the [`Driver`] until a signal, `-q`/`-Q`'s one measurement, or
//! `-t`'s time-out; with chronyd's messages at start and on the way out.
//!
//! The one deliberate difference from chronyd: the system clock is
//! steered only with [`ClockChoice::System`] (`--clock system`).
//! Otherwise the daemon keeps a clock of its own in software (as
//! `chronyd -x` leaves the system clock alone), so that a mistaken run
//! never moves a clock; it says so loudly at start.
//!
//! A program's `main` is then a few lines (see `examples/client.rs`):
//! parse the command line into [`Options`] and call [`run`].

pub mod process;
pub mod seccomp;

use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};
use std::vec::Vec;

use crate::random::{OsRandom, Random};

use crate::chrony::config::{Config, ConfigError};
use crate::linux::clock::{DriverClock, SystemClock, VirtualClock};
use crate::linux::driver::{Driver, DriverError};
use crate::linux::logger::{level_filter, Destination, Logger};
use crate::linux::serve::{client_log_table, Serving, ServingAuth};
use crate::linux::settings::{ClientSockets, Settings};
use crate::linux::socket::clock_precision;
use crate::system::{ModeEnd, ReferenceMode};
use process::{stop_on_signals, Background, Keep, StartupPipe};

/// The configuration file chronyd reads by default.
pub const DEFAULT_CONFIG: &str = "/etc/chrony/chrony.conf";

/// The PID file chronyd writes by default (`pidfile`).
pub const DEFAULT_PIDFILE: &str = "/run/chrony/chronyd.pid";

/// Which clock the daemon steers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClockChoice {
    /// A clock in software over the system clock, which is left alone.
    #[default]
    Virtual,
    /// The system clock, through adjtimex (needs `CAP_SYS_TIME`).
    System,
}

/// What to do once a source is selected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Keep time until stopped.
    #[default]
    Normal,
    /// `-q`: set the clock once and exit.
    UpdateOnce,
    /// `-Q`: print the offset once and exit, the clock left alone.
    PrintOnce,
}

/// The PID file to write: `pidfile`'s, or chronyd's default where it
/// marks the daemon that steers the system clock or runs as a service
/// (forked: a unit of `Type=forking` waits for it); none for `-q`/`-Q`,
/// and none for a daemon tried in the foreground on a clock of its own,
/// so that it can run beside chronyd.
fn pidfile(configured: Option<&Path>, options: &Options) -> Option<PathBuf> {
    if options.mode != Mode::Normal {
        return None;
    }
    configured.map(Path::to_path_buf).or_else(|| {
        (options.steers_system_clock() || !options.foreground())
            .then(|| PathBuf::from(DEFAULT_PIDFILE))
    })
}

/// chronyd's command line (chronyd(8)), as a program parsed it, and
/// ntpkit's own `--clock`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Options {
    /// `-f FILE` (default [`DEFAULT_CONFIG`]).
    pub config: Option<PathBuf>,
    /// Directives given after the options: read instead of the file.
    pub directives: Vec<String>,
    /// `-d` (once or twice): stay in the foreground, messages to standard
    /// error.
    pub debug: u8,
    /// `-n`: stay in the foreground.
    pub no_fork: bool,
    /// `-l FILE`: messages to this file.
    pub log_file: Option<PathBuf>,
    /// `-L LEVEL`: the least severity written (0 informational, 1
    /// warnings, 2 errors, 3 fatal).
    pub log_level: i32,
    /// `-p`: print the configuration and exit.
    pub print_config: bool,
    /// `-q`, `-Q`, or neither.
    pub mode: Mode,
    /// `-r`: restore the sources' measurement histories from `dumpdir`.
    pub reload: bool,
    /// `-R`: ignore `initstepslew` and `makestep` with a positive limit.
    pub restarted: bool,
    /// `-s`: set the clock from the RTC or the drift file's time.
    pub rtc: bool,
    /// `-t SECONDS`: exit after that long.
    pub timeout: Option<u32>,
    /// `-u USER`: drop root to this user.
    pub user: Option<String>,
    /// `-U`: do not require root.
    pub no_user_check: bool,
    /// `-F LEVEL`: the system-call filter.
    pub filter: i32,
    /// `-P PRIORITY`: SCHED_FIFO at this priority.
    pub priority: i32,
    /// `-m`: lock the memory.
    pub lock_memory: bool,
    /// `-x`: never steer the clock.
    pub no_clock_control: bool,
    /// `-4` or `-6`: one address family only.
    pub family: Option<Family>,
    /// `--clock`: which clock is steered.
    pub clock: ClockChoice,
}

pub use crate::linux::settings::Family;

/// What this build does of chronyd's features, in chronyd's notation.
pub const FEATURES: &str =
    "+CMDMON +NTP +REFCLOCK -RTC +PRIVDROP +SCFILTER -SIGND +ASYNCDNS +NTS +SECHASH +IPV6 -DEBUG";

/// `-v`: ntpkit's version and features, as chronyd prints its own.
pub fn version() -> String {
    std::format!("ntpkit version {} ({FEATURES})", env!("CARGO_PKG_VERSION"))
}

impl Options {
    /// Whether the daemon stays in the foreground.
    fn foreground(&self) -> bool {
        self.debug > 0 || self.no_fork || self.print_config || self.mode != Mode::Normal
    }

    /// The configuration file's path.
    fn config_path(&self) -> PathBuf {
        self.config
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG))
    }

    /// Whether the system clock is steered.
    fn steers_system_clock(&self) -> bool {
        self.clock == ClockChoice::System && !self.no_clock_control && self.mode != Mode::PrintOnce
    }
}

/// The configuration the options name: the directives given, else the
/// file.
pub fn load_config(options: &Options) -> Result<Config, ConfigError> {
    if options.directives.is_empty() {
        Config::load(&options.config_path())
    } else {
        let mut text = options.directives.join("\n");
        text.push('\n');
        Config::parse(&text, "command line")
    }
}

/// Runs the daemon `options` describe until it is stopped; the exit
/// status (0, or 1 after an error, a failed `-q`/`-Q`, or a time-out
/// before synchronisation).
pub fn run(options: &Options) -> u8 {
    if options.print_config {
        return print_config(options);
    }
    let needs_root = options.steers_system_clock() && !options.no_user_check;
    if needs_root && !process::is_root() {
        std::eprintln!("Fatal error : Not superuser");
        return 1;
    }
    let startup = if options.foreground() {
        None
    } else {
        match process::daemonize() {
            Ok(Background::Daemon(pipe)) => Some(pipe),
            // A parent's part is done: its status goes back to `main`.
            Ok(Background::Parent(status)) => return status,
            Err(e) => {
                std::eprintln!("Fatal error : Could not go to the background : {e}");
                return 1;
            }
        }
    };
    if let Err(e) = install_logger(options) {
        fail(startup, &std::format!("Could not open log file : {e}"));
        return 1;
    }
    log::info!(
        "ntpkit version {} starting ({FEATURES})",
        env!("CARGO_PKG_VERSION")
    );
    match life(options, startup) {
        Ok(status) => {
            log::info!("ntpkit exiting");
            status
        }
        Err(Fatal(message)) => {
            log::error!("Fatal error : {message}");
            1
        }
    }
}

/// `-p`: the configuration as parsed on standard output, its warnings on
/// standard error; 0, or 1 when it is refused.
fn print_config(options: &Options) -> u8 {
    match load_config(options) {
        Ok(config) => {
            for warning in &config.warnings {
                std::eprintln!("{warning}");
            }
            std::print!("{}", config.render());
            0
        }
        Err(e) => {
            std::eprintln!("{e}");
            1
        }
    }
}

/// Where messages go: `-l FILE`; standard error in the foreground with
/// `-d` (and `-q`, `-Q`); syslog otherwise.
fn install_logger(options: &Options) -> std::io::Result<()> {
    let destination = match &options.log_file {
        Some(path) => Destination::File(path.clone()),
        None if options.debug > 0 || options.mode != Mode::Normal => Destination::Stderr,
        None => Destination::Syslog,
    };
    let level = if options.debug >= 2 {
        log::LevelFilter::Debug
    } else {
        level_filter(options.log_level)
    };
    let logger = Logger::new(destination, level)?;
    // A program that installed its own logger keeps it.
    let _ = logger.install();
    Ok(())
}

/// Tells the waiting parent (if any) why the daemon did not start.
fn fail(startup: Option<StartupPipe>, message: &str) {
    match startup {
        Some(pipe) => pipe.fail(message),
        None => std::eprintln!("Fatal error : {message}"),
    }
}

/// The daemon could not start: chronyd's fatal line in the log, and the
/// message to the waiting parent (if any); the exit status.
fn not_started(startup: &mut Option<StartupPipe>, message: &str) -> u8 {
    log::error!("Fatal error : {message}");
    if let Some(pipe) = startup.take() {
        pipe.fail(message);
    }
    1
}

/// What ends the daemon before it keeps time.
#[derive(Debug)]
struct Fatal(String);

impl<E: core::fmt::Display> From<E> for Fatal {
    fn from(e: E) -> Fatal {
        Fatal(e.to_string())
    }
}

/// Everything after the logger: the configuration, the files, the
/// sockets, the privileges, the loop.
fn life(options: &Options, startup: Option<StartupPipe>) -> Result<u8, Fatal> {
    let result = start(options);
    let (mut run, startup) = match result {
        Ok(run) => (run, startup),
        Err(Fatal(message)) => {
            if let Some(pipe) = startup {
                pipe.fail(&message);
            }
            return Err(Fatal(message));
        }
    };
    // The parent (or systemd) hears "ready" once the sockets are open and
    // root is dropped, just before the loop; or why not.
    let status = run.go(options, startup);
    if let Some(path) = &run.pidfile {
        let _ = std::fs::remove_file(path);
    }
    Ok(status)
}

/// A daemon ready to run.
struct Running {
    config: Config,
    settings: Settings,
    precision: i8,
    pidfile: Option<PathBuf>,
}

/// The configuration read and checked, the PID file written.
fn start(options: &Options) -> Result<Running, Fatal> {
    let config = load_config(options)?;
    for warning in &config.warnings {
        log::warn!("{warning}");
    }
    if !options.steers_system_clock() {
        log::warn!(
            "The system clock is not steered: ntpkit keeps its own clock (run with --clock system to steer the system clock)"
        );
    }
    let pidfile = pidfile(config.pidfile.as_deref(), options);
    if let Some(path) = &pidfile {
        process::check_pidfile(path).map_err(Fatal)?;
    }
    let precision = clock_precision(config.clockprecision);
    log::debug!(
        "Clock precision {:.9} ({precision})",
        2f64.powi(precision.into())
    );
    let (mut settings, unusable) = Settings::resolve_in(&config, precision, options.family);
    // `chronyc reload sources` reads the file's `sourcedir` files again.
    if options.directives.is_empty() {
        settings.config_path = Some(options.config_path());
    }
    for e in unusable {
        log::warn!("{e}");
    }
    for warning in &settings.warnings {
        log::warn!("{warning}");
    }
    if let Some(path) = &pidfile {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Err(e) = process::write_pidfile(path) {
            log::warn!("Could not write the PID file: {e}");
        }
    }
    if options.restarted {
        // -R: a restart keeps the clock as it is: no `initstepslew`, and
        // `makestep` only where it steps whenever it must.
        settings.init_sources.clear();
        settings.node.system.mode = ReferenceMode::Normal;
        let discipline = &mut settings.node.system.discipline;
        discipline.makestep = discipline.makestep.filter(|m| m.limit < 0);
    }
    if options.mode != Mode::Normal {
        // One measurement: no serving, no command sockets, no files; the
        // requests still leave from the server's port when it is theirs.
        if settings.client_sockets == ClientSockets::Server {
            settings.client_sockets = ClientSockets::Shared { port: config.port };
        }
        settings.serve = None;
        settings.command = None;
        settings.driftfile = None;
        settings.logs = None;
        settings.dumpdir = None;
        settings.measure_only = options.mode == Mode::PrintOnce;
        settings.init_sources.clear();
        settings.node.system.mode = if options.mode == Mode::UpdateOnce {
            ReferenceMode::UpdateOnce
        } else {
            ReferenceMode::PrintOnce
        };
    }
    settings.reload = options.reload;
    for (set, option) in [(options.rtc, "-s")] {
        if set {
            log::warn!("The option {option} is not acted on yet");
        }
    }
    // -P and -m, or else the file's `sched_priority` and `lock_all`.
    let priority = if options.priority > 0 {
        options.priority
    } else {
        config.sched_priority
    };
    if priority > 0 {
        if let Err(e) = process::set_scheduler(priority) {
            log::warn!("Could not set SCHED_FIFO at priority {priority} : {e}");
        }
    }
    if options.lock_memory || config.lock_all {
        if let Err(e) = process::lock_memory() {
            log::warn!("Could not lock the memory : {e}");
        }
    }
    Ok(Running {
        config,
        settings,
        precision,
        pidfile,
    })
}

impl Running {
    /// Serves (if the configuration does), drops root, and runs the loop
    /// on the clock chosen; the exit status.
    fn go(&mut self, options: &Options, mut startup: Option<StartupPipe>) -> u8 {
        let serve = self.settings.serve.clone();
        let auth = match &serve {
            Some(serve) => match ServingAuth::start(serve, |w| log::warn!("{w}")) {
                Ok(auth) => Some(auth),
                Err(e) => return not_started(&mut startup, &e.to_string()),
            },
            None => None,
        };
        let mut table = serve.as_ref().map(client_log_table).unwrap_or_default();
        let serving = match &serve {
            Some(serve) => {
                let seed = [OsRandom.next_u64(), OsRandom.next_u64()];
                match Serving::bind(serve, self.precision, &mut table, seed, false) {
                    Ok((mut serving, skipped)) => {
                        for e in skipped {
                            log::warn!("Could not open NTP socket : {e}");
                        }
                        if let Some(auth) = &auth {
                            auth.apply(&mut serving);
                        }
                        Some(serving)
                    }
                    Err(e) => {
                        let message = std::format!("Could not open NTP sockets : {e}");
                        return not_started(&mut startup, &message);
                    }
                }
            }
            None => None,
        };
        let settings = std::mem::take(&mut self.settings);
        if options.steers_system_clock() {
            let mut clock = SystemClock::new(settings.rtcsync);
            if let Err(e) = clock.check_permission() {
                return not_started(&mut startup, &e.to_string());
            }
            self.drive(
                options,
                settings,
                clock,
                serving,
                serve.as_ref().map(|s| s.port),
                startup,
            )
        } else {
            self.drive(
                options,
                settings,
                VirtualClock::new(),
                serving,
                serve.as_ref().map(|s| s.port),
                startup,
            )
        }
    }

    fn drive<C: DriverClock>(
        &self,
        options: &Options,
        settings: Settings,
        clock: C,
        serving: Option<Serving<'_>>,
        port: Option<u16>,
        mut startup: Option<StartupPipe>,
    ) -> u8 {
        let mut driver = match Driver::new(settings, clock, serving) {
            Ok(driver) => driver,
            Err(e) => return not_started(&mut startup, &e.to_string()),
        };
        if let Err(e) = drop_privileges(options, &self.config, port) {
            return not_started(&mut startup, &e);
        }
        // As chronyd: the system-call filter once root is dropped.
        if let Err(e) = seccomp::apply(options.filter) {
            return not_started(&mut startup, &e.to_string());
        }
        let stop = Arc::new(AtomicBool::new(false));
        if let Err(e) = stop_on_signals(&stop) {
            let message = std::format!("signal handlers : {e}");
            return not_started(&mut startup, &message);
        }
        if let Some(pipe) = startup {
            pipe.ready();
        }
        process::notify_ready();
        let deadline = options
            .timeout
            .map(|seconds| Instant::now() + Duration::from_secs(u64::from(seconds)));
        let status = loop_until(&mut driver, &stop, deadline, options.mode);
        match driver.finish() {
            Ok(()) => status,
            Err(e) => {
                log::error!("{e}");
                1
            }
        }
    }
}

/// Runs the driver until a signal, the deadline, or (with `-q`/`-Q`) the
/// first clock update; the exit status.
fn loop_until<C: DriverClock>(
    driver: &mut Driver<'_, C>,
    stop: &AtomicBool,
    deadline: Option<Instant>,
    mode: Mode,
) -> u8 {
    loop {
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            return 0;
        }
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left == Some(Duration::ZERO) {
            log::info!("Timeout reached");
            return u8::from(!driver.has_synchronised());
        }
        if let Err(e) = driver.run_once(left) {
            return match e {
                DriverError::MaxChange { .. } => 1,
                e => {
                    log::error!("{e}");
                    1
                }
            };
        }
        if mode != Mode::Normal {
            // The driver said how in chronyd's words.
            match driver.mode_end() {
                Some(ModeEnd::Updated { .. }) => return 0,
                Some(ModeEnd::NoSource { .. }) => return 1,
                None => {}
            }
        }
    }
}

/// Drops root to `-u USER` (or the `user` directive) as chronyd does,
/// keeping `CAP_SYS_TIME` while the clock is steered and
/// `CAP_NET_BIND_SERVICE` for an NTP port under 1024; warns when the
/// daemon stays root.
fn drop_privileges(options: &Options, config: &Config, port: Option<u16>) -> Result<(), String> {
    let user = options.user.clone().or_else(|| config.user.clone());
    if !process::is_root() {
        return Ok(());
    }
    if let Some(user) = user.filter(|u| u != "root") {
        let (uid, gid) = process::user_ids(&user)?;
        if uid != 0 || gid != 0 {
            let keep = Keep {
                sys_time: options.steers_system_clock(),
                net_bind_service: port.is_some_and(|p| p > 0 && p < 1024),
            };
            process::drop_root(uid, gid, keep).map_err(|e| e.to_string())?;
        }
    }
    if process::is_root() {
        log::warn!("Running with root privileges");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_pid_file_marks_a_service_or_the_clock_s_steerer() {
        let default = Some(PathBuf::from(DEFAULT_PIDFILE));
        let tried = Options {
            no_fork: true,
            ..Options::default()
        };
        assert_eq!(pidfile(None, &tried), None, "foreground, own clock");
        let forked = Options::default();
        assert_eq!(pidfile(None, &forked), default, "a service forks");
        let steering = Options {
            no_fork: true,
            clock: ClockChoice::System,
            ..Options::default()
        };
        assert_eq!(pidfile(None, &steering), default);
        let told = Path::new("/run/ntpkit/x.pid");
        assert_eq!(pidfile(Some(told), &tried), Some(told.to_path_buf()));
        let once = Options {
            mode: Mode::UpdateOnce,
            ..Options::default()
        };
        assert_eq!(pidfile(Some(told), &once), None);
    }
}
