//! Forwarding sealed instances to the PACS with C-STORE, in the transfer syntax each is stored
//! in (the gateway never transcodes: the seal covers the pixels as they were received).
//!
//! A [`Forwarder`] keeps its association to the PACS open between instances, so that a series
//! arriving on one modality association goes out on one PACS association; it opens a new one
//! when an instance needs a presentation context the open one lacks, or when the PACS has
//! dropped it.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use dicom_ul::association::client::{ClientAssociation, ClientAssociationOptions};
use dicom_ul::association::Error as AssociationError;
use dicom_ul::pdu::PDataValueType;
use dicom_ul::Pdu;

use crate::dimse::{self, status, Command};
use crate::GatewayError;

const EXPLICIT_VR_LITTLE_ENDIAN: &str = "1.2.840.10008.1.2.1";
const IMPLICIT_VR_LITTLE_ENDIAN: &str = "1.2.840.10008.1.2";

/// Where instances go: the PACS's AE title and address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// The PACS's AE title (called AE title).
    pub ae_title: String,
    /// `host:port`.
    pub address: String,
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.ae_title, self.address)
    }
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
    let mut file = File::open(path).map_err(|source| GatewayError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    read_stored_instance(&mut file, path)
}

fn read_stored_instance(file: &mut File, path: &Path) -> Result<StoredInstance, GatewayError> {
    let io = |source| GatewayError::Io {
        path: path.to_path_buf(),
        source,
    };
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
    let meta = dicom_object::meta::FileMetaTable::from_reader(&mut *file)
        .map_err(|e| GatewayError::Protocol(format!("{}: {e}", path.display())))?;
    let clean = |s: &str| s.trim_end_matches(['\0', ' ']).to_string();
    Ok(StoredInstance {
        sop_class: clean(meta.media_storage_sop_class_uid()),
        sop_instance: clean(meta.media_storage_sop_instance_uid()),
        transfer_syntax: clean(meta.transfer_syntax()),
        data_set_start: 144 + u64::from(group_length),
    })
}

/// An association to the PACS kept open across instances.
pub struct Forwarder {
    destination: Destination,
    calling_ae: String,
    timeout: Duration,
    open: Option<OpenAssociation>,
}

struct OpenAssociation {
    association: ClientAssociation<TcpStream>,
    next_message_id: u16,
}

impl Forwarder {
    /// A forwarder to `destination`, calling as `calling_ae`, with `timeout` for connecting,
    /// reading and writing. It connects on the first [`send`](Forwarder::send).
    pub fn new(destination: Destination, calling_ae: &str, timeout: Duration) -> Forwarder {
        Forwarder {
            destination,
            calling_ae: calling_ae.to_string(),
            timeout,
            open: None,
        }
    }

    /// Sends the Part 10 file at `path` with C-STORE and returns the PACS's status. Uses the
    /// open association when it has a presentation context for the instance's SOP class in
    /// its transfer syntax; otherwise releases it and opens one that does. A reused
    /// association that fails is taken for one the PACS dropped, and the instance is sent
    /// once more on a new one.
    ///
    /// # Errors
    /// - `NotAccepted` when the PACS accepts the association but not the instance's SOP class
    ///   in its transfer syntax;
    /// - `Forward` when the PACS cannot be reached, rejects the association, or breaks the
    ///   protocol;
    /// - `Io` or `Protocol` when the file cannot be read.
    pub fn send(&mut self, path: &Path) -> Result<u16, GatewayError> {
        let mut file = File::open(path).map_err(|source| GatewayError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let instance = read_stored_instance(&mut file, path)?;
        if let Some(mut open) = self.open.take() {
            if let Some(context) = open.context_for(&instance) {
                match open.store(context, &instance, &mut file, path, &self.destination) {
                    Ok(status) => {
                        self.open = Some(open);
                        return Ok(status);
                    }
                    // The PACS may close an association it found idle; the error says nothing
                    // about the instance, which is sent again below.
                    Err(GatewayError::Forward { .. }) => {
                        let _ = open.association.abort();
                    }
                    Err(e) => {
                        let _ = open.association.abort();
                        return Err(e);
                    }
                }
            } else {
                let _ = open.association.release();
            }
        }
        let mut open = self.associate(&instance)?;
        let Some(context) = open.context_for(&instance) else {
            let _ = open.association.release();
            return Err(GatewayError::NotAccepted {
                destination: self.destination.to_string(),
                reason: format!(
                    "the PACS accepts SOP class {} but not in transfer syntax {} (the gateway \
                     does not transcode)",
                    instance.sop_class, instance.transfer_syntax
                ),
                status: status::SOP_CLASS_NOT_SUPPORTED,
            });
        };
        match open.store(context, &instance, &mut file, path, &self.destination) {
            Ok(status) => {
                self.open = Some(open);
                Ok(status)
            }
            Err(e) => {
                let _ = open.association.abort();
                Err(e)
            }
        }
    }

    /// Releases the open association, if any.
    pub fn close(&mut self) {
        if let Some(open) = self.open.take() {
            let _ = open.association.release();
        }
    }

    /// Opens an association proposing the instance's SOP class in its transfer syntax, and
    /// the same class in the uncompressed syntaxes: only to tell, if the first is refused,
    /// whether the PACS refused the class or the transfer syntax.
    fn associate(&self, instance: &StoredInstance) -> Result<OpenAssociation, GatewayError> {
        let mut options = ClientAssociationOptions::new()
            .calling_ae_title(self.calling_ae.as_str())
            .called_ae_title(self.destination.ae_title.as_str())
            .with_presentation_context(
                instance.sop_class.as_str(),
                vec![instance.transfer_syntax.as_str()],
            )
            .connection_timeout(self.timeout)
            .read_timeout(self.timeout)
            .write_timeout(self.timeout);
        if instance.transfer_syntax != EXPLICIT_VR_LITTLE_ENDIAN
            && instance.transfer_syntax != IMPLICIT_VR_LITTLE_ENDIAN
        {
            options = options.with_presentation_context(
                instance.sop_class.as_str(),
                vec![EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN],
            );
        }
        let mut association = options
            .establish(self.destination.address.as_str())
            .map_err(|e| match e {
                AssociationError::NoAcceptedPresentationContexts { .. } => {
                    GatewayError::NotAccepted {
                        destination: self.destination.to_string(),
                        reason: format!(
                            "the PACS does not accept SOP class {}",
                            instance.sop_class
                        ),
                        status: status::SOP_CLASS_NOT_SUPPORTED,
                    }
                }
                other => GatewayError::Forward {
                    destination: self.destination.to_string(),
                    reason: format!("cannot associate: {other}"),
                },
            })?;
        // Each instance is a command PDU, data PDUs and a response: without TCP_NODELAY the
        // last small segment can wait for the peer's delayed acknowledgement (40 ms on Linux).
        let _ = association.inner_stream().set_nodelay(true);
        Ok(OpenAssociation {
            association,
            next_message_id: 1,
        })
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.close();
    }
}

impl OpenAssociation {
    fn context_for(&self, instance: &StoredInstance) -> Option<u8> {
        self.association
            .presentation_contexts()
            .iter()
            .find(|pc| {
                pc.abstract_syntax.trim_end_matches('\0') == instance.sop_class
                    && pc.transfer_syntax.trim_end_matches('\0') == instance.transfer_syntax
            })
            .map(|pc| pc.id)
    }

    fn store(
        &mut self,
        context: u8,
        instance: &StoredInstance,
        file: &mut File,
        path: &Path,
        destination: &Destination,
    ) -> Result<u16, GatewayError> {
        let failed = |reason: String| GatewayError::Forward {
            destination: destination.to_string(),
            reason,
        };
        let message_id = self.next_message_id;
        self.next_message_id = self.next_message_id.wrapping_add(1).max(1);
        let command =
            dimse::store_request(message_id, &instance.sop_class, &instance.sop_instance)?;
        file.seek(SeekFrom::Start(instance.data_set_start))
            .map_err(|source| GatewayError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        self.association
            .send(&dimse::command_pdu(context, command))
            .map_err(|e| failed(format!("cannot send the command: {e}")))?;
        {
            let mut writer = self.association.send_pdata(context);
            std::io::copy(file, &mut writer)
                .map_err(|e| failed(format!("cannot send the data set: {e}")))?;
            writer
                .finish()
                .map_err(|e| failed(format!("cannot send the data set: {e}")))?;
        }
        let mut bytes = Vec::new();
        loop {
            match self.association.receive() {
                Ok(Pdu::PData { data }) => {
                    let mut last = false;
                    for value in data {
                        if value.value_type == PDataValueType::Command {
                            bytes.extend_from_slice(&value.data);
                            last |= value.is_last;
                        }
                    }
                    if last {
                        break;
                    }
                }
                Ok(Pdu::AbortRQ { .. }) => {
                    return Err(failed("the PACS aborted the association".into()))
                }
                Ok(other) => {
                    return Err(failed(format!("unexpected {}", other.short_description())))
                }
                Err(e) => return Err(failed(format!("no response: {e}"))),
            }
        }
        let reply = Command::parse(&bytes)?;
        if reply.field != dimse::C_STORE_RSP || reply.message_id != message_id {
            return Err(failed(format!(
                "command {:#06x} answering message {}, not a C-STORE-RSP to {message_id}",
                reply.field, reply.message_id
            )));
        }
        reply
            .status
            .ok_or_else(|| failed("a response without a status".into()))
    }
}
