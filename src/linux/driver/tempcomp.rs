//! `tempcomp`: the sensor file is read at start and then every interval,
//! and the compensation made of the reading runs the clock faster (or
//! slower) by that many ppm on top of the frequency the node sets, as
//! chronyd compensates: the node does not see it (its statistics take
//! the compensated clock as the clock), so a compensation that follows
//! the crystal's temperature leaves the node a steadier frequency to
//! track. Each compensation applied is a tempcomp.log line.

use super::{Driver, DriverError};
use crate::clock::ClockAction;
use std::io;
use std::path::PathBuf;
use std::string::String;
use std::time::{Duration, Instant};

use crate::chrony::config::TempCompConfig;
use crate::chrony::tempcomp::{parse_reading, Compensation, MAX_COMPENSATION};

/// The shortest interval between readings, seconds (chronyd's).
const MIN_INTERVAL: f64 = 1.0;

/// The sensor, its curve, and the compensation in force.
#[derive(Debug)]
pub(super) struct TempComp {
    sensor: PathBuf,
    interval: Duration,
    compensation: Compensation,
    /// When the sensor is read next.
    next: Instant,
    /// The compensation in force, ppm (positive: the clock runs faster).
    applied: f64,
}

/// A reading and the compensation it gave.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Reading {
    /// What the sensor file said.
    pub temperature: f64,
    /// The compensation now in force, ppm.
    pub compensation: f64,
}

impl TempComp {
    /// The sensor `config` names, first read at once; a points file is
    /// read now (an error names it).
    pub(super) fn new(config: &TempCompConfig) -> io::Result<TempComp> {
        Ok(TempComp {
            sensor: config.sensor.clone(),
            interval: Duration::from_secs_f64(if config.interval.is_nan() {
                MIN_INTERVAL
            } else {
                config.interval.clamp(MIN_INTERVAL, 1e9)
            }),
            compensation: Compensation::new(&config.curve)?,
            next: Instant::now(),
            applied: 0.0,
        })
    }

    /// When the sensor is read next.
    pub(super) fn due(&self) -> Instant {
        self.next
    }

    /// The compensation in force, ppm.
    pub(super) fn applied(&self) -> f64 {
        self.applied
    }

    /// Reads the sensor if it is due at `now`: the new compensation, or
    /// why there is none (the one in force stays).
    pub(super) fn poll(&mut self, now: Instant) -> Option<Result<Reading, String>> {
        if now < self.next {
            return None;
        }
        self.next = now + self.interval;
        let text = match std::fs::read_to_string(&self.sensor) {
            Ok(text) => text,
            Err(e) => {
                return Some(Err(std::format!(
                    "Could not read temperature from {} : {e}",
                    self.sensor.display()
                )))
            }
        };
        let Some(temperature) = parse_reading(&text) else {
            return Some(Err(std::format!(
                "Could not read temperature from {} : not a number",
                self.sensor.display()
            )));
        };
        let compensation = self.compensation.at(temperature);
        if compensation.is_nan() || compensation.abs() > MAX_COMPENSATION {
            return Some(Err(std::format!(
                "Temperature compensation of {compensation:.3} ppm exceeds sanity limit of {MAX_COMPENSATION:.1}"
            )));
        }
        self.applied = compensation;
        Some(Ok(Reading {
            temperature,
            compensation,
        }))
    }
}

/// The frequency the clock runs at for the node's `ppm` with a
/// compensation of `compensation` ppm on top: the rates multiply.
pub(super) fn compensated(ppm: f64, compensation: f64) -> f64 {
    ppm + compensation + ppm * compensation * 1e-6
}

impl<C: crate::linux::clock::DriverClock> Driver<'_, C> {
    /// Reads `tempcomp`'s sensor if it is due: a new compensation is
    /// applied at once (the node's frequency with it on top) and logged in
    /// tempcomp.log; a reading that gives none is a warning.
    pub(super) fn read_temperature(&mut self) -> Result<(), DriverError<C::Error>> {
        let Some(tempcomp) = &mut self.tempcomp else {
            return Ok(());
        };
        let reading = match tempcomp.poll(Instant::now()) {
            None => return Ok(()),
            Some(Err(warning)) => {
                log::warn!("{warning}");
                return Ok(());
            }
            Some(Ok(reading)) => reading,
        };
        if !self.measure_only {
            let ppm = compensated(self.node_frequency, reading.compensation);
            self.apply_to_clock(&ClockAction::SetFrequency { ppm })?;
        }
        let now = self.now()?;
        if let Some(log_files) = &mut self.log_files {
            if let Err(e) = log_files.tempcomp(&reading, now) {
                log::warn!("Could not write log file {e}: no more lines are written to it");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chrony::config::TempCompCurve;

    #[test]
    fn reads_when_due_and_refuses_what_is_out_of_bounds() {
        let dir = std::env::temp_dir().join(std::format!("ntpkit-tempcomp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sensor = dir.join("temp");
        std::fs::write(&sensor, "27000\n").unwrap();
        let mut tempcomp = TempComp::new(&TempCompConfig {
            sensor: sensor.clone(),
            interval: 30.0,
            curve: TempCompCurve::Quadratic {
                t0: 26000.0,
                k0: 0.0,
                k1: 0.000183,
                k2: 0.0,
            },
        })
        .unwrap();
        let start = tempcomp.due();
        let reading = tempcomp.poll(start).unwrap().unwrap();
        assert_eq!(reading.temperature, 27000.0);
        assert!((reading.compensation - 0.183).abs() < 1e-12);
        assert_eq!(tempcomp.due(), start + Duration::from_secs(30));
        assert!(tempcomp.poll(start + Duration::from_secs(29)).is_none());
        // 100 degrees hotter: 18.483 ppm, over the limit; the last stays.
        std::fs::write(&sensor, "127000\n").unwrap();
        let refused = tempcomp.poll(start + Duration::from_secs(30)).unwrap();
        assert_eq!(
            refused.unwrap_err(),
            "Temperature compensation of 18.483 ppm exceeds sanity limit of 10.0"
        );
        assert!((tempcomp.applied() - 0.183).abs() < 1e-12);
        std::fs::remove_file(&sensor).unwrap();
        let missing = tempcomp.poll(start + Duration::from_secs(60)).unwrap();
        assert!(missing.unwrap_err().starts_with(&std::format!(
            "Could not read temperature from {}",
            sensor.display()
        )));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn compensation_multiplies_the_rate() {
        assert_eq!(compensated(12.5, 0.0), 12.5);
        assert_eq!(compensated(0.0, -3.0), -3.0);
        // (1 + 100e-6)(1 + 10e-6) = 1 + 110.001e-6
        assert!((compensated(100.0, 10.0) - 110.001).abs() < 1e-9);
    }
}
