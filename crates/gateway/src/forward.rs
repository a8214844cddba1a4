//! Forwarding a sealed instance to the PACS with C-STORE, in the transfer syntax it is stored
//! in (the gateway never transcodes: the seal covers the pixels as they were received).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

use dicom_ul::association::client::ClientAssociationOptions;
use dicom_ul::pdu::PDataValueType;
use dicom_ul::Pdu;

use crate::dimse::{self, Command};
use crate::GatewayError;

/// Where instances go: the PACS's AE title and address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// The PACS's AE title (called AE title).
    pub ae_title: String,
    /// `host:port`.
    pub address: String,
}

impl std::str::FromStr for Destination {
    type Err = GatewayError;

    /// Parses `AE@HOST:PORT`.
    fn from_str(text: &str) -> Result<Destination, GatewayError> {
        let (ae_title, address) = text.split_once('@').ok_or_else(|| {
            GatewayError::Config(format!("'{text}' is not AE@HOST:PORT (no '@')"))
        })?;
        crate::check_ae_title(ae_title)?;
        if !address.contains(':') {
            return Err(GatewayError::Config(format!(
                "'{address}' is not HOST:PORT (no port)"
            )));
        }
        Ok(Destination {
            ae_title: ae_title.to_string(),
            address: address.to_string(),
        })
    }
}

/// What the Part 10 file to forward holds, read from its File Meta Information.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredInstance {
    /// Media Storage SOP Class UID.
    pub sop_class: String,
    /// Media Storage SOP Instance UID.
    pub sop_instance: String,
    /// Transfer Syntax UID.
    pub transfer_syntax: String,
    /// Where the data set starts in the file.
    pub data_set_start: u64,
}

/// Reads the File Meta Information of a Part 10 file.
///
/// # Errors
/// `Io`, or `Protocol` when the file has no readable File Meta Information.
pub fn stored_instance(path: &Path) -> Result<StoredInstance, GatewayError> {
    let io = |source| GatewayError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(io)?;
    let mut head = [0u8; 144];
    file.read_exact(&mut head).map_err(io)?;
    if &head[128..132] != b"DICM" || head[132..136] != [0x02, 0x00, 0x00, 0x00] {
        return Err(GatewayError::Protocol(format!(
            "{} is not a Part 10 file with a group length",
            path.display()
        )));
    }
    let group_length = u32::from_le_bytes([head[140], head[141], head[142], head[143]]);
    file.seek(SeekFrom::Start(128)).map_err(io)?;
    let meta = dicom_object::meta::FileMetaTable::from_reader(&mut file)
        .map_err(|e| GatewayError::Protocol(format!("{}: {e}", path.display())))?;
    let clean = |s: &str| s.trim_end_matches(['\0', ' ']).to_string();
    Ok(StoredInstance {
        sop_class: clean(meta.media_storage_sop_class_uid()),
        sop_instance: clean(meta.media_storage_sop_instance_uid()),
        transfer_syntax: clean(meta.transfer_syntax()),
        data_set_start: 144 + u64::from(group_length),
    })
}

/// Sends the Part 10 file at `path` to `destination` with C-STORE, calling as `calling_ae`,
/// and returns the PACS's status.
///
/// # Errors
/// `Forward` when the PACS cannot be reached, does not accept the SOP class in the file's
/// transfer syntax, or breaks the protocol.
pub fn forward(
    path: &Path,
    destination: &Destination,
    calling_ae: &str,
    timeout: Duration,
) -> Result<u16, GatewayError> {
    let instance = stored_instance(path)?;
    let failed = |reason: String| GatewayError::Forward {
        destination: format!("{}@{}", destination.ae_title, destination.address),
        reason,
    };
    let mut association = ClientAssociationOptions::new()
        .calling_ae_title(calling_ae)
        .called_ae_title(destination.ae_title.as_str())
        .with_presentation_context(
            instance.sop_class.as_str(),
            vec![instance.transfer_syntax.as_str()],
        )
        .connection_timeout(timeout)
        .read_timeout(timeout)
        .write_timeout(timeout)
        .establish(destination.address.as_str())
        .map_err(|e| failed(format!("cannot associate: {e}")))?;
    let context = association
        .presentation_contexts()
        .iter()
        .find(|pc| {
            pc.abstract_syntax.trim_end_matches('\0') == instance.sop_class
                && pc.transfer_syntax.trim_end_matches('\0') == instance.transfer_syntax
        })
        .map(|pc| pc.id)
        .ok_or_else(|| {
            failed(format!(
                "the PACS does not accept {} in {}",
                instance.sop_class, instance.transfer_syntax
            ))
        });
    let context = match context {
        Ok(id) => id,
        Err(e) => {
            let _ = association.abort();
            return Err(e);
        }
    };
    let command = dimse::store_request(1, &instance.sop_class, &instance.sop_instance)?;
    association
        .send(&dimse::command_pdu(context, command))
        .map_err(|e| failed(format!("cannot send the command: {e}")))?;
    let mut file = File::open(path).map_err(|source| GatewayError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    file.seek(SeekFrom::Start(instance.data_set_start))
        .map_err(|source| GatewayError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    {
        let mut writer = association.send_pdata(context);
        std::io::copy(&mut file, &mut writer)
            .map_err(|e| failed(format!("cannot send the data set: {e}")))?;
        writer
            .finish()
            .map_err(|e| failed(format!("cannot send the data set: {e}")))?;
    }
    let status = match association.receive() {
        Ok(Pdu::PData { data }) => {
            let mut bytes = Vec::new();
            for value in data {
                if value.value_type == PDataValueType::Command {
                    bytes.extend_from_slice(&value.data);
                }
            }
            let reply = Command::parse(&bytes)?;
            reply
                .status
                .ok_or_else(|| failed("a response without a status".into()))?
        }
        Ok(Pdu::AbortRQ { .. }) => return Err(failed("the PACS aborted the association".into())),
        Ok(other) => return Err(failed(format!("unexpected {}", other.short_description()))),
        Err(e) => return Err(failed(format!("no response: {e}"))),
    };
    let _ = association.release();
    Ok(status)
}
