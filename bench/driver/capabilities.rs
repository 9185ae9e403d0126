//! What one configured instrument offers, for drivers whose vocabulary comes from their
//! fixture options or device profile (`scpi`, `modbus`, `profile`) as well as for the drivers
//! described statically by a [`DriverSpec`](super::DriverSpec).
//!
//! Fixture validation and role checks use this instead of the static specification when a
//! driver is generic: the `profile` driver's kind and capabilities come from its profile;
//! `scpi`, `modbus` and `dbc` take the kind the fixture declares (`kind:`) and the names
//! their options give (`dbc` with the units of its DBC file's signals). Nothing here opens a link; a profile is read from its file.

use super::common::{bad_option, unsupported};
use super::{DeviceEvent, DriverError, spec_of};
use std::collections::BTreeMap;
use std::path::Path;

/// What a configured instrument offers: names with their units.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Capabilities {
    /// The kind of instrument (`pressure_meter`, or a profile's own kind).
    pub kind: String,
    /// Settings and the unit each is commanded in (empty when the driver converts any).
    pub settings: Vec<(String, String)>,
    /// Quantities and the unit each is read in (empty when unknown before reading).
    pub quantities: Vec<(String, String)>,
    /// Actions.
    pub actions: Vec<String>,
    /// Device events it can wait for.
    pub events: Vec<DeviceEvent>,
}

impl Capabilities {
    /// What a built-in driver offers, from its static specification.
    pub fn of_spec(spec: &super::DriverSpec) -> Capabilities {
        Capabilities {
            kind: spec.kind.to_string(),
            settings: spec
                .settings
                .iter()
                .map(|s| (s.name.into(), s.unit.into()))
                .collect(),
            quantities: spec
                .quantities
                .iter()
                .map(|q| (q.name.into(), q.unit.into()))
                .collect(),
            actions: spec.actions.iter().map(|a| a.to_string()).collect(),
            events: spec.events.to_vec(),
        }
    }

    /// Every name a procedure may use with it (settings, actions, quantities, `breath`).
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.settings.iter().map(|(n, _)| n.clone()).collect();
        names.extend(self.actions.iter().cloned());
        names.extend(self.quantities.iter().map(|(n, _)| n.clone()));
        if self.events.contains(&DeviceEvent::Breath) {
            names.push("breath".into());
        }
        names.sort();
        names.dedup();
        names
    }
}

/// The capabilities of driver `driver` configured with `options`; `declared_kind` is the
/// fixture's `kind:` (required by `scpi`, `modbus` and `dbc`, which cannot know what they
/// drive).
pub fn capabilities(
    driver: &str,
    options: &BTreeMap<String, String>,
    declared_kind: Option<&str>,
) -> Result<Capabilities, DriverError> {
    let from_options =
        |prefix_read: &str, prefix_set: &str, unit_of: &dyn Fn(&str, &str) -> String| {
            let mut c = Capabilities::default();
            for (key, value) in options {
                if let Some(name) = key.strip_prefix(prefix_read) {
                    c.quantities.push((name.to_string(), unit_of(name, value)));
                } else if let Some(name) = key.strip_prefix(prefix_set) {
                    c.settings.push((name.to_string(), unit_of(name, value)));
                } else if let Some(name) = key.strip_prefix("action.") {
                    c.actions.push(name.to_string());
                }
            }
            c
        };
    let kind_needed = |d: &str| {
        declared_kind.map(str::to_string).ok_or_else(|| {
            bad_option(
                d,
                "kind",
                "a generic driver needs the fixture to say what it drives (`kind: pressure_meter`)",
            )
        })
    };
    match driver {
        "profile" => {
            let path = options.get("profile").ok_or_else(|| {
                bad_option(driver, "profile", "required: the path of a device profile")
            })?;
            let profile = super::load_profile(Path::new(path.trim()))
                .map_err(|e| bad_option(driver, "profile", format!("invalid profile\n{e}")))?;
            Ok(Capabilities {
                kind: profile.kind.clone(),
                settings: profile
                    .settings
                    .iter()
                    .map(|(n, s)| (n.clone(), s.unit.symbol().to_string()))
                    .collect(),
                quantities: profile
                    .quantities
                    .iter()
                    .map(|(n, q)| (n.clone(), q.unit.symbol().to_string()))
                    .collect(),
                actions: profile.actions.keys().cloned().collect(),
                events: Vec::new(),
            })
        }
        "scpi" => {
            let unit = |name: &str, _: &str| {
                options
                    .get(&format!("unit.{name}"))
                    .cloned()
                    .unwrap_or_default()
            };
            let mut c = from_options("read.", "set.", &unit);
            c.kind = kind_needed(driver)?;
            Ok(c)
        }
        "modbus" => {
            let unit = |_: &str, point: &str| {
                point
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("unit="))
                    .unwrap_or_default()
                    .to_string()
            };
            let mut c = from_options("read.", "write.", &unit);
            c.quantities.retain(|(n, _)| n != "serial_number");
            c.kind = kind_needed(driver)?;
            Ok(c)
        }
        crate::can::dbc_device::NAME => {
            let config = crate::can::dbc_device::configure(options).map_err(|problems| {
                let first = problems.first();
                bad_option(
                    driver,
                    first.map_or("dbc", |p| p.option.as_str()),
                    first.map_or(String::new(), |p| p.message.clone()),
                )
            })?;
            let (settings, quantities, actions) = config.names();
            Ok(Capabilities {
                kind: kind_needed(driver)?,
                settings,
                quantities,
                actions,
                events: Vec::new(),
            })
        }
        other => {
            let spec = spec_of(other)
                .ok_or_else(|| unsupported("registry", format!("driver `{other}`")))?;
            Ok(Capabilities::of_spec(spec))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_profile_gives_its_kind_and_names() {
        let profile = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/profiles/qbench-thermohygrometer.yaml"
        );
        let c = capabilities("profile", &options(&[("profile", profile)]), None).unwrap();
        assert_eq!(c.kind, "thermohygrometer");
        assert_eq!(
            c.names(),
            vec!["averaging_time", "hold", "humidity", "temperature"]
        );
        assert!(c.quantities.contains(&("temperature".into(), "°C".into())));
    }

    #[test]
    fn generic_drivers_take_the_declared_kind_and_option_names() {
        let o = options(&[
            ("read.pressure", "MEAS:PRES?"),
            ("unit.pressure", "hPa"),
            ("action.zero", "CAL:ZERO"),
        ]);
        let c = capabilities("scpi", &o, Some("pressure_meter")).unwrap();
        assert_eq!(
            (c.kind.as_str(), c.names()),
            (
                "pressure_meter",
                vec!["pressure".to_string(), "zero".to_string()]
            )
        );
        assert!(capabilities("scpi", &o, None).is_err());
        let o = options(&[
            ("read.temperature", "input 0 f32 unit=°C"),
            ("write.averaging", "holding 0"),
        ]);
        let c = capabilities("modbus", &o, Some("room_conditions")).unwrap();
        assert_eq!(
            c.quantities,
            vec![("temperature".to_string(), "°C".to_string())]
        );
        assert_eq!(c.settings, vec![("averaging".to_string(), String::new())]);
    }

    #[test]
    fn static_drivers_give_their_specification() {
        let c = capabilities("qbench-ventilator", &BTreeMap::new(), None).unwrap();
        assert_eq!(c.kind, "ventilator");
        assert!(c.names().contains(&"breath".to_string()) || c.events.is_empty());
        assert!(capabilities("nope", &BTreeMap::new(), None).is_err());
    }
}
