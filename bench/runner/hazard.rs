//! Commands that put people at risk: an X-ray exposure on a real bench needs a person.
//!
//! Before such a command is sent, the executor asks the operator through
//! [`Operator::confirm_hazard`](super::Operator::confirm_hazard) and records the answer. An
//! unattended run (`--yes`) does not answer it: `--yes` exists to rehearse procedures on the
//! simulated bench, and a bench that fired ionising radiation because a flag was left on a
//! command line would not be a serious bench. On the simulated bench nothing is emitted, so
//! nothing is asked. An instrument counts as simulated when its link is served by the
//! simulated bench (`sim:` ports and hosts, a `sim:` CAN adapter); an instrument operated by
//! hand, or reached through a real port, is real.

use crate::fixture::{InstrumentConfig, SIM_PORT_PREFIX};

/// (instrument kind, action) pairs that emit ionising radiation.
const EMITS_RADIATION: &[(&str, &str)] = &[("xray_generator", "expose")];

/// The instruction a person must confirm before `action` is performed on the instrument of
/// `role`, or `None` when the action is harmless or the instrument is simulated.
pub fn confirmation(role: &str, config: &InstrumentConfig, action: &str) -> Option<String> {
    let hazardous = EMITS_RADIATION
        .iter()
        .any(|(kind, a)| *kind == config.kind && *a == action);
    (hazardous && !is_simulated(config)).then(|| {
        format!(
            "X-RAY EXPOSURE by the {role}: confirm that nobody is in the room, the door is \
             closed and the warning light is on"
        )
    })
}

/// Whether the instrument is served by the simulated bench.
fn is_simulated(config: &InstrumentConfig) -> bool {
    let sim = |s: &str| s.starts_with(SIM_PORT_PREFIX);
    config.link.as_ref().is_some_and(|l| sim(&l.port))
        || config.tcp.as_ref().is_some_and(|t| sim(&t.host))
        || config.can.as_ref().is_some_and(|c| sim(&c.adapter.port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::CanLinkSettings;
    use crate::link::SerialSettings;

    fn generator(port: Option<&str>) -> InstrumentConfig {
        InstrumentConfig {
            driver: "canopen-xray-generator".into(),
            kind: "xray_generator".into(),
            link: None,
            tcp: None,
            can: port.map(|p| CanLinkSettings {
                adapter: SerialSettings::new(p),
                bit_rate: 500_000,
                node_id: 5,
                heartbeat_timeout_ms: 500,
                sdo_timeout_ms: 500,
            }),
            options: Default::default(),
            identity: Default::default(),
            calibration_certificate: None,
            calibration_due: None,
            accuracy: Default::default(),
            limits: Default::default(),
        }
    }

    #[test]
    fn only_real_exposures_need_a_person() {
        let real = generator(Some("/dev/ttyACM0"));
        let message = confirmation("generator", &real, "expose").expect("a real exposure");
        assert!(
            message.contains("X-RAY EXPOSURE by the generator"),
            "{message}"
        );
        assert_eq!(confirmation("generator", &real, "prepare"), None);
        assert_eq!(
            confirmation("generator", &generator(Some("sim:can_adapter")), "expose"),
            None
        );
        // Operated by hand: a person presses the button, and confirms first.
        assert!(confirmation("generator", &generator(None), "expose").is_some());
        let mut dosimeter = generator(Some("/dev/ttyUSB0"));
        dosimeter.kind = "dosimeter".into();
        assert_eq!(confirmation("dosimeter", &dosimeter, "expose"), None);
    }
}
