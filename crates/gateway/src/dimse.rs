//! DIMSE command sets (PS3.7 §9, §E): what the gateway reads from a C-STORE or C-ECHO request
//! and writes back, always in Implicit VR Little Endian.

use dicom_core::{dicom_value, DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use dicom_ul::pdu::{PDataValue, PDataValueType};
use dicom_ul::Pdu;

use crate::GatewayError;

/// C-STORE-RQ.
pub const C_STORE_RQ: u16 = 0x0001;
/// C-STORE-RSP.
pub const C_STORE_RSP: u16 = 0x8001;
/// C-ECHO-RQ.
pub const C_ECHO_RQ: u16 = 0x0030;
/// C-ECHO-RSP.
pub const C_ECHO_RSP: u16 = 0x8030;
/// Command Data Set Type: no data set follows.
pub const NO_DATA_SET: u16 = 0x0101;

/// C-STORE statuses (PS3.4 Table B.2-1) the gateway gives.
pub mod status {
    /// Success.
    pub const SUCCESS: u16 = 0x0000;
    /// Refused: Out of Resources. The PACS could not be reached or refused for the time
    /// being; the instance is sealed in the spool and will be forwarded when it can be.
    pub const OUT_OF_RESOURCES: u16 = 0xA700;
    /// Error: Cannot understand. The data set is not a readable DICOM instance.
    pub const CANNOT_UNDERSTAND: u16 = 0xC000;
    /// Processing failure (PS3.7 C.4.1): sealing or recording failed for another reason.
    pub const PROCESSING_FAILURE: u16 = 0x0110;
    /// Refused: SOP Class not supported (PS3.7 C.5.7). The PACS does not accept the
    /// instance's SOP class in its transfer syntax; the instance is sealed in the spool and
    /// retried, in case the PACS's configuration changes.
    pub const SOP_CLASS_NOT_SUPPORTED: u16 = 0x0122;
    /// Refused: Not Authorized (PS3.7 C.5.9).
    pub const NOT_AUTHORIZED: u16 = 0x0124;

    /// Whether a status is a success or a warning (the instance was stored).
    pub fn is_stored(status: u16) -> bool {
        status == SUCCESS || status & 0xF000 == 0xB000
    }

    /// Whether a failure is a refusal (Refused: Out of Resources, SOP Class not supported,
    /// Not Authorized): the PACS did not take the instance this time, and may later. The
    /// gateway keeps a refused instance pending and retries it; other failures (the PACS
    /// found an error in the data set) would recur, so the instance is set aside.
    pub fn is_refusal(status: u16) -> bool {
        status & 0xFF00 == 0xA700 || status == SOP_CLASS_NOT_SUPPORTED || status == NOT_AUTHORIZED
    }
}

/// The fields of a request command the gateway uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Command Field (0000,0100).
    pub field: u16,
    /// Message ID (0000,0110).
    pub message_id: u16,
    /// Affected SOP Class UID (0000,0002).
    pub sop_class: String,
    /// Affected SOP Instance UID (0000,1000), C-STORE only.
    pub sop_instance: Option<String>,
    /// Whether a data set follows (Command Data Set Type ≠ 0101H).
    pub has_data_set: bool,
    /// Status (0000,0900), in responses.
    pub status: Option<u16>,
}

fn implicit() -> Result<&'static dicom_encoding::TransferSyntax, GatewayError> {
    TransferSyntaxRegistry
        .get("1.2.840.10008.1.2")
        .ok_or_else(|| GatewayError::Protocol("no Implicit VR Little Endian codec".into()))
}

fn text(object: &InMemDicomObject, tag: dicom_core::Tag) -> Option<String> {
    object
        .element(tag)
        .ok()
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
}

fn number(object: &InMemDicomObject, tag: dicom_core::Tag) -> Option<u16> {
    object
        .element(tag)
        .ok()
        .and_then(|e| e.to_int::<u16>().ok())
}

impl Command {
    /// Reads a command set.
    ///
    /// # Errors
    /// `Protocol` when it cannot be read or lacks Command Field or Message ID.
    pub fn parse(bytes: &[u8]) -> Result<Command, GatewayError> {
        let object = InMemDicomObject::read_dataset_with_ts(bytes, implicit()?)
            .map_err(|e| GatewayError::Protocol(format!("unreadable command set: {e}")))?;
        let field = number(&object, tags::COMMAND_FIELD)
            .ok_or_else(|| GatewayError::Protocol("command without Command Field".into()))?;
        let message_id = number(&object, tags::MESSAGE_ID)
            .or_else(|| number(&object, tags::MESSAGE_ID_BEING_RESPONDED_TO))
            .ok_or_else(|| GatewayError::Protocol("command without Message ID".into()))?;
        Ok(Command {
            field,
            message_id,
            sop_class: text(&object, tags::AFFECTED_SOP_CLASS_UID).unwrap_or_default(),
            sop_instance: text(&object, tags::AFFECTED_SOP_INSTANCE_UID),
            has_data_set: number(&object, tags::COMMAND_DATA_SET_TYPE) != Some(NO_DATA_SET),
            status: number(&object, tags::STATUS),
        })
    }
}

fn encode(elements: Vec<DataElement<InMemDicomObject>>) -> Result<Vec<u8>, GatewayError> {
    let object = InMemDicomObject::command_from_element_iter(elements);
    let mut bytes = Vec::new();
    object
        .write_dataset_with_ts(&mut bytes, implicit()?)
        .map_err(|e| GatewayError::Protocol(format!("cannot encode a command: {e}")))?;
    Ok(bytes)
}

/// A response to `request` (C-ECHO-RSP or C-STORE-RSP) with `status`.
///
/// # Errors
/// `Protocol` if it cannot be encoded.
pub fn response(request: &Command, field: u16, status: u16) -> Result<Vec<u8>, GatewayError> {
    let mut elements = vec![
        DataElement::new(
            tags::AFFECTED_SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from(request.sop_class.as_str()),
        ),
        DataElement::new(tags::COMMAND_FIELD, VR::US, dicom_value!(U16, [field])),
        DataElement::new(
            tags::MESSAGE_ID_BEING_RESPONDED_TO,
            VR::US,
            dicom_value!(U16, [request.message_id]),
        ),
        DataElement::new(
            tags::COMMAND_DATA_SET_TYPE,
            VR::US,
            dicom_value!(U16, [NO_DATA_SET]),
        ),
        DataElement::new(tags::STATUS, VR::US, dicom_value!(U16, [status])),
    ];
    if let Some(instance) = &request.sop_instance {
        elements.push(DataElement::new(
            tags::AFFECTED_SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from(instance.as_str()),
        ));
    }
    encode(elements)
}

/// A C-STORE-RQ for an instance.
///
/// # Errors
/// `Protocol` if it cannot be encoded.
pub fn store_request(
    message_id: u16,
    sop_class: &str,
    sop_instance: &str,
) -> Result<Vec<u8>, GatewayError> {
    encode(vec![
        DataElement::new(
            tags::AFFECTED_SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from(sop_class),
        ),
        DataElement::new(tags::COMMAND_FIELD, VR::US, dicom_value!(U16, [C_STORE_RQ])),
        DataElement::new(tags::MESSAGE_ID, VR::US, dicom_value!(U16, [message_id])),
        DataElement::new(tags::PRIORITY, VR::US, dicom_value!(U16, [0])),
        DataElement::new(
            tags::COMMAND_DATA_SET_TYPE,
            VR::US,
            dicom_value!(U16, [0x0000]),
        ),
        DataElement::new(
            tags::AFFECTED_SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from(sop_instance),
        ),
    ])
}

/// A P-DATA-TF carrying a whole command set (`bytes`) on presentation context `context`:
/// command sets are small, so one PDU holds them.
pub fn command_pdu(context: u8, bytes: Vec<u8>) -> Pdu {
    Pdu::PData {
        data: vec![PDataValue {
            presentation_context_id: context,
            value_type: PDataValueType::Command,
            is_last: true,
            data: bytes,
        }],
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_store_request_reads_back_and_its_response_names_it() {
        let request =
            Command::parse(&store_request(7, "1.2.840.10008.5.1.4.1.1.2", "1.2.3.4").unwrap())
                .unwrap();
        assert_eq!(request.field, C_STORE_RQ);
        assert_eq!(request.message_id, 7);
        assert_eq!(request.sop_instance.as_deref(), Some("1.2.3.4"));
        assert!(request.has_data_set);
        let reply =
            Command::parse(&response(&request, C_STORE_RSP, status::OUT_OF_RESOURCES).unwrap())
                .unwrap();
        assert_eq!(reply.field, C_STORE_RSP);
        assert_eq!(reply.message_id, 7);
        assert_eq!(reply.status, Some(0xA700));
        assert!(!reply.has_data_set);
        assert!(status::is_refusal(0xA702) && status::is_refusal(0x0122));
        assert!(!status::is_refusal(0xC000) && !status::is_refusal(0xA900));
        assert!(status::is_stored(0xB007) && !status::is_stored(0x0110));
    }
}
