//! Opening a flat-panel detector's image channel from its fixture options: `image_tcp:
//! host:port` or `image_folder: path`, either of them `sim:flat_panel_detector` on the
//! simulated bench (resolved to the simulated detector's loopback port or folder).

use super::RunError;
use crate::can::canopen::flat_panel_detector::{ImageSource, ImageSourceSpec, image_source_spec};
use crate::fixture::{InstrumentConfig, SIM_PORT_PREFIX};
use crate::link::{LinkSettings, TcpSettings, open_link};
use crate::sim::{ImageChannel, SimBench};
use std::path::PathBuf;

/// Resolves and opens the image source of the detector bound to `role`.
pub fn open_image_source(
    role: &str,
    config: &InstrumentConfig,
    simulator: Option<&SimBench>,
) -> Result<ImageSource, RunError> {
    let refuse = |reason: String| RunError::RoleNotProvided {
        role: role.to_string(),
        reason,
    };
    let spec = image_source_spec(&config.options).map_err(|e| refuse(e.to_string()))?;
    let simulated = |text: &str| -> Result<Option<ImageChannel>, RunError> {
        if !text.starts_with(SIM_PORT_PREFIX) {
            return Ok(None);
        }
        let channel = simulator
            .and_then(|s| s.can().image_channel())
            .ok_or_else(|| {
                refuse(format!(
                    "`{text}`: the simulated bench has no flat-panel detector (`simulation: {{ can: {{ flat_panel_detector: ... }} }}`)"
                ))
            })?;
        Ok(Some(channel.clone()))
    };
    match spec {
        ImageSourceSpec::Tcp(text) => {
            let settings = match simulated(&text)? {
                Some(ImageChannel::Tcp(address)) => {
                    TcpSettings::new(address.ip().to_string(), address.port())
                }
                Some(ImageChannel::Folder(_)) => {
                    return Err(refuse(format!(
                        "`image_tcp: {text}`: the simulated detector drops its frames into a folder (use `image_folder`)"
                    )));
                }
                None => {
                    let (host, port) = text
                        .rsplit_once(':')
                        .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
                        .ok_or_else(|| refuse(format!("`image_tcp: {text}` is not `host:port`")))?;
                    TcpSettings::new(host, port)
                }
            };
            let described = settings.describe();
            let link =
                open_link(&LinkSettings::Tcp(settings)).map_err(|source| RunError::Link {
                    role: role.to_string(),
                    port: format!("image channel {described}"),
                    source: Box::new(source),
                })?;
            Ok(ImageSource::Tcp(link))
        }
        ImageSourceSpec::Folder(text) => match simulated(&text)? {
            Some(ImageChannel::Folder(folder)) => Ok(ImageSource::Folder(folder)),
            Some(ImageChannel::Tcp(_)) => Err(refuse(format!(
                "`image_folder: {text}`: the simulated detector sends its frames over TCP (use `image_tcp`)"
            ))),
            None => {
                let folder = PathBuf::from(&text);
                if folder.is_dir() {
                    Ok(ImageSource::Folder(folder))
                } else {
                    Err(refuse(format!("`image_folder: {text}` is not a folder")))
                }
            }
        },
    }
}
