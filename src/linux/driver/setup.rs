//! Building a driver: the drift read, the node made, the peers' and
//! chronyc's sockets opened, the log files, the histories restored.

use std::boxed::Box;
use std::time::Instant;
use std::vec::Vec;

use super::broadcast::Broadcasts;
use super::*;

impl<'a, C: DriverClock> Driver<'a, C> {
    /// Reads the driftfile, opens the sockets and the log files and binds
    /// the command sockets; serves on `serving` too when given (its server
    /// goes into the node).
    ///
    /// The node (about 300 KiB: 64 sources and their NTS state, in place)
    /// is built on the stack before it is boxed: in a debug build, call this
    /// on a thread with a few MiB of stack (a main thread's 8 MiB).
    pub fn new(
        settings: Settings,
        mut clock: C,
        serving: Option<Serving<'a>>,
    ) -> Result<Self, DriverError<C::Error>> {
        let drift = match settings.driftfile.as_deref().map(files::read_drift) {
            Some(Ok(drift)) => drift,
            Some(Err(warning)) => {
                log::warn!("{warning}");
                None
            }
            None => None,
        };
        if let (Some(drift), Some(path)) = (drift, &settings.driftfile) {
            log::info!(
                "Frequency {:.3} +/- {:.3} ppm read from {}",
                drift.frequency_ppm,
                drift.skew_ppm,
                path.display()
            );
        }
        if let Some(zone) = &settings.leap_zone {
            log::info!("Using {zone} timezone to obtain leap second data");
        }
        let (sockets, ptp_sockets, server, nts_keys) = match serving {
            Some(Serving {
                sockets,
                ptp_sockets,
                server,
                nts_keys,
            }) => (sockets, ptp_sockets, Some(server), nts_keys),
            None => (Vec::new(), Vec::new(), None, None),
        };
        let mut node = Box::new(Node::new(settings.node.clone(), drift, server));
        let now = clock.now().map_err(DriverError::Clock)?;
        // With `initstepslew`, its hosts come first, alone; the sources
        // start when its update is done.
        let initial = matches!(
            settings.node.system.mode,
            ReferenceMode::InitStepSlew { .. }
        );
        let (first, later) = if initial {
            (&settings.init_sources, settings.upstreams.clone())
        } else {
            (&settings.upstreams, Vec::new())
        };
        let mut serving = ServeSockets::new(sockets, ptp_sockets, nts_keys);
        // The cards first: the client sockets ask for their timestamps.
        let precision = crate::time::log2_to_seconds(node.system().config().precision);
        let cards = cards::Cards::open(&settings.hwtimestamps, precision);
        if !cards.is_empty() {
            serving.enable_hardware_timestamps();
        }
        let mut client = ClientPorts::new(settings.client_sockets, settings.client_addresses)
            .with_hardware_timestamps(!cards.is_empty());
        // Every shared socket the sources will need, bound now: a port
        // under 1024 cannot be once the privileges are dropped.
        let addresses = settings.upstreams.iter().chain(&settings.init_sources);
        client
            .open_for(addresses.map(|u| u.address))
            .map_err(io_error("acquisitionport"))?;
        // Reference clocks first, as chronyd lists them.
        let mut peers = refclocks::open_refclocks(&mut node, &settings.refclocks, now)?;
        let (ntp, ke) =
            peers::open_peers(&mut node, first, &settings.nts, now, &mut client, &serving)?;
        peers.extend(ntp);
        let cmdmon = match &settings.command {
            Some(command) => Some(CmdmonServer::bind(command)?),
            None => None,
        };
        for warning in cmdmon.iter().flat_map(CmdmonServer::warnings) {
            log::warn!("{warning}");
        }
        let log_files = match &settings.logs {
            Some(logs) => LogFiles::open(logs).map_err(io_error(std::format!(
                "log files in {}",
                logs.dir.display()
            )))?,
            None => None,
        };
        let tempcomp = match &settings.tempcomp {
            Some(config) => Some(TempComp::new(config).map_err(io_error("tempcomp"))?),
            None => None,
        };
        // Broadcasts leave from the serving sockets, which may send to a
        // broadcast address only when told so.
        if !settings.broadcasts.is_empty() {
            for socket in serving.sockets() {
                if let Err(e) = socket.enable_broadcast() {
                    log::warn!("Could not enable broadcasts on the NTP socket: {e}");
                }
            }
        }
        let broadcasts = Broadcasts::new(&settings.broadcasts, Instant::now);
        let applied_frequency = clock.current_frequency_ppm();
        let mut driver = Driver {
            node,
            broadcasts,
            peers,
            client,
            clock,
            cmdmon,
            serving,
            ke,
            later,
            nts_settings: settings.nts,
            mode_end: None,
            driftfile: settings.driftfile,
            dumpdir: settings.dumpdir,
            measure_only: settings.measure_only,
            maxchange: settings.maxchange,
            logchange: settings.logchange.unwrap_or(DEFAULT_LOGCHANGE),
            log_files,
            tempcomp,
            node_frequency: 0.0,
            applied_frequency,
            cards,
            jumps: StepWatch::default(),
            last_replacement: None,
            replacement: None,
            started: Instant::now(),
            finished: false,
            family: settings.family,
            shutdown: false,
            config_path: settings.config_path.clone(),
            keyfile: settings.keyfile.clone(),
        };
        let (wall, monotonic) = driver.readings();
        driver.jumps.rebase(wall, monotonic);
        driver.settle()?;
        let now = driver.now()?;
        driver.load_histories(settings.reload, now)?;
        driver.read_temperature()?;
        Ok(driver)
    }
}
