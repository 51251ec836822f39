//! ntpkit's daemon, in chronyd's place: chronyd's command line and
//! chrony.conf (kubeasz's client and server configs as written); it
//! follows its servers, serves others when the file says so (`allow`,
//! `local stratum`), and answers chronyc on chronyd's command sockets.
//!
//! ```text
//! client -f /etc/chrony/chrony.conf --clock system   # as a service runs chronyd
//! client -d -f tests/data/loopback-client.conf       # in the foreground, its own clock
//! client -f tests/data/loopback-client.conf --ctl sources -v
//! ```
//!
//! Every option of chronyd 4.3 is taken (`client --help` lists them);
//! trailing arguments are directives, read instead of the file. The one
//! difference: the system clock is steered only with `--clock system`;
//! without it the daemon keeps a clock of its own (as `chronyd -x`), so a
//! mistaken run never moves a clock.
//!
//! `--ctl REPORT`: ask the daemon running with this configuration for
//! `sources`, `sourcestats`, `tracking` or `timedatectl` (`-v`, `-c`,
//! `--json`) over chronyc's protocol, print it and exit.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, Parser};
use ntpkit::linux::ctl;
use ntpkit::linux::daemon::{self, ClockChoice, Family, Mode, Options};

/// chronyd's options, and ntpkit's `--clock` and `--ctl`. The system clock
/// is steered only with `--clock system`.
#[derive(Parser)]
#[command(name = "client", disable_version_flag = true)]
struct Args {
    /// Configuration file (default /etc/chrony/chrony.conf).
    #[arg(short = 'f', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Don't run as daemon, and log to stderr (twice: debug messages).
    #[arg(short = 'd', action = ArgAction::Count)]
    debug: u8,
    /// Don't run as daemon.
    #[arg(short = 'n')]
    no_fork: bool,
    /// Log to file.
    #[arg(short = 'l', value_name = "FILE")]
    log_file: Option<PathBuf>,
    /// Set logging threshold (0: informational, 1: warnings, 2: errors,
    /// 3: fatal).
    #[arg(
        short = 'L',
        value_name = "LEVEL",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    log_level: i32,
    /// Print configuration and exit.
    #[arg(short = 'p')]
    print: bool,
    /// Set clock and exit.
    #[arg(short = 'q')]
    update_once: bool,
    /// Log offset and exit (the clock is left alone).
    #[arg(short = 'Q')]
    print_once: bool,
    /// Reload dump files.
    #[arg(short = 'r')]
    reload: bool,
    /// Adapt configuration for restart.
    #[arg(short = 'R')]
    restarted: bool,
    /// Set clock from RTC.
    #[arg(short = 's')]
    rtc: bool,
    /// Exit after elapsed time.
    #[arg(short = 't', value_name = "SECONDS")]
    timeout: Option<u32>,
    /// Specify user to drop root to.
    #[arg(short = 'u', value_name = "USER")]
    user: Option<String>,
    /// Don't check for root.
    #[arg(short = 'U')]
    no_user_check: bool,
    /// Set system call filter level (0; negative: SIGSYS instead of kill).
    #[arg(
        short = 'F',
        value_name = "LEVEL",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    filter: i32,
    /// Set process priority (SCHED_FIFO; 0: off).
    #[arg(short = 'P', value_name = "PRIORITY", default_value_t = 0)]
    priority: i32,
    /// Lock memory.
    #[arg(short = 'm')]
    lock_memory: bool,
    /// Don't control clock.
    #[arg(short = 'x')]
    no_clock_control: bool,
    /// Use IPv4 addresses only.
    #[arg(short = '4', conflicts_with = "ipv6")]
    ipv4: bool,
    /// Use IPv6 addresses only.
    #[arg(short = '6')]
    ipv6: bool,
    /// Print version and exit.
    #[arg(short = 'v', long = "version")]
    version: bool,
    /// `system` steers the system clock through adjtimex (needs
    /// CAP_SYS_TIME); `virtual` (the default, as with -x) keeps a clock of
    /// its own and leaves the system clock alone.
    #[arg(long, value_enum, default_value_t = Clock::Virtual)]
    clock: Clock,
    /// Ask the daemon running with this configuration for a report
    /// (sources|sourcestats|tracking|timedatectl [-v] [-c|--json]), print
    /// it and exit. Everything after --ctl is the request.
    #[arg(long, num_args = 1.., allow_hyphen_values = true, value_name = "REQUEST")]
    ctl: Option<Vec<String>>,
    /// Configuration directives, read instead of the file.
    #[arg(value_name = "DIRECTIVE")]
    directives: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Clock {
    /// A clock in software (the system clock is left alone).
    Virtual,
    /// The system clock, through adjtimex.
    System,
}

impl Args {
    fn options(&self) -> Options {
        Options {
            config: self.config.clone(),
            directives: self.directives.clone(),
            debug: self.debug,
            no_fork: self.no_fork,
            log_file: self.log_file.clone(),
            log_level: self.log_level,
            print_config: self.print,
            mode: match (self.update_once, self.print_once) {
                (_, true) => Mode::PrintOnce,
                (true, false) => Mode::UpdateOnce,
                _ => Mode::Normal,
            },
            reload: self.reload,
            restarted: self.restarted,
            rtc: self.rtc,
            timeout: self.timeout,
            user: self.user.clone(),
            no_user_check: self.no_user_check,
            filter: self.filter,
            priority: self.priority,
            lock_memory: self.lock_memory,
            no_clock_control: self.no_clock_control,
            family: match (self.ipv4, self.ipv6) {
                (true, _) => Some(Family::V4),
                (_, true) => Some(Family::V6),
                _ => None,
            },
            clock: match self.clock {
                Clock::Virtual => ClockChoice::Virtual,
                Clock::System => ClockChoice::System,
            },
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.version {
        println!("{}", daemon::version());
        return ExitCode::SUCCESS;
    }
    let options = args.options();
    if let Some(words) = &args.ctl {
        let answer = daemon::load_config(&options)
            .map_err(|e| e.to_string())
            .and_then(|config| ctl::query(&config, &words.join(" ")));
        return match answer {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("client: {e}");
                ExitCode::from(2)
            }
        };
    }
    ExitCode::from(daemon::run(&options))
}
