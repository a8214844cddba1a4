//! `DataSet::remove_seal_blocks`: exactly the blocks the canonical form leaves out (C5.1.1
//! rule 7) are removed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dicom_core::{Tag, VR};
use scanseal_canon::{DataSet, Element, ElementValue};

fn element(tag: Tag, vr: VR, value: &[u8]) -> Element {
    Element {
        tag,
        vr,
        value: ElementValue::Primitive(value.to_vec()),
    }
}

#[test]
fn only_blocks_whose_creator_reads_scanseal_1_are_removed() {
    let mut data_set = DataSet::from_elements(vec![
        element(Tag(0x0010, 0x0010), VR::PN, b"Doe^Jane"),
        // Another vendor's block 10 of group 7FF1, the seal in block 11 (padded creator, as
        // LO padding is read), and a seal block a transcoder moved to group 0009.
        element(Tag(0x7FF1, 0x0010), VR::LO, b"ACME 1"),
        element(Tag(0x7FF1, 0x0011), VR::LO, b" SCANSEAL 1 "),
        element(Tag(0x7FF1, 0x1001), VR::OB, b"vendor"),
        element(Tag(0x7FF1, 0x1101), VR::OB, b"chain!"),
        element(Tag(0x0009, 0x0020), VR::LO, b"SCANSEAL 1"),
        element(Tag(0x0009, 0x2001), VR::OB, b"chain2"),
        // A creator that only starts like the seal's.
        element(Tag(0x0009, 0x0021), VR::LO, b"SCANSEAL 10"),
        element(Tag(0x0009, 0x2101), VR::OB, b"other!"),
    ]);
    assert_eq!(data_set.remove_seal_blocks(), 4);
    let left: Vec<Tag> = data_set.elements().iter().map(|e| e.tag).collect();
    assert_eq!(
        left,
        [
            Tag(0x0009, 0x0021),
            Tag(0x0009, 0x2101),
            Tag(0x0010, 0x0010),
            Tag(0x7FF1, 0x0010),
            Tag(0x7FF1, 0x1001),
        ]
    );
    assert_eq!(data_set.remove_seal_blocks(), 0);
}
