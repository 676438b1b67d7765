//! Building and selecting SA payload proposals (RFC 7296 §2.7, §3.3) for the IKE SA and for
//! GSAs (Protocol ID 201, 4-byte GSA-ID SPI; DESIGN.md "GSA negotiation").

use crate::config::{GsaConfig, IkeProposal, Protection};
use crate::wire::enums::{DhGroup, EncrId, EsnId, NotifyType, PrfId, ProtocolId, TransformType};
use crate::wire::{Proposal, Sa, Transform};

/// The IKE SA payload: one proposal per configured suite (AEAD, so no INTEG). `spi` is empty
/// in IKE_SA_INIT and our new 8-byte SPI in an IKE SA rekey.
pub fn ike_sa_payload(props: &[IkeProposal], spi: Option<u64>) -> Sa {
    let spi = spi.map(|s| s.to_be_bytes().to_vec()).unwrap_or_default();
    Sa::new(
        props
            .iter()
            .enumerate()
            .map(|(i, p)| {
                Proposal::new(
                    u8::try_from(i + 1).unwrap_or(u8::MAX),
                    ProtocolId::IKE,
                    spi.clone(),
                    ike_transforms(p),
                )
            })
            .collect(),
    )
}

fn ike_transforms(p: &IkeProposal) -> Vec<Transform> {
    vec![
        Transform::encr(EncrId::ENCR_AES_GCM_16, Some(p.encr_key_bits)),
        Transform::prf(PrfId(p.prf)),
        Transform::dh(DhGroup(p.dh_group)),
    ]
}

/// Does the offered proposal contain every transform of our suite?
fn offers(prop: &Proposal, ours: &[Transform]) -> bool {
    ours.iter().all(|t| {
        prop.transforms
            .iter()
            .any(|o| o.ty == t.ty && o.id == t.id && o.key_length() == t.key_length())
    })
}

/// Every transform type of the offered proposal must be one we understand (RFC 7296 §3.3.6:
/// an unknown type makes the proposal unacceptable).
fn only_known_types(prop: &Proposal, allowed: &[TransformType]) -> bool {
    prop.transforms.iter().all(|t| allowed.contains(&t.ty))
}

/// Responder choice: our configured order first (strongSwan's `prefer_configured_proposals`).
/// Returns the reply proposal (the offered number, exactly one transform per type) and the
/// chosen suite; the peer's SPI is in the offered proposal.
pub fn select_ike(
    ours: &[IkeProposal],
    offered: &Sa,
) -> Result<(Proposal, IkeProposal, Vec<u8>), NotifyType> {
    let known = [TransformType::ENCR, TransformType::PRF, TransformType::DH];
    for mine in ours {
        let ts = ike_transforms(mine);
        for prop in &offered.proposals {
            if prop.protocol == ProtocolId::IKE
                && only_known_types(prop, &known)
                && offers(prop, &ts)
            {
                let reply = Proposal::new(prop.number, ProtocolId::IKE, Vec::new(), ts);
                return Ok((reply, *mine, prop.spi.clone()));
            }
        }
    }
    Err(NotifyType::NO_PROPOSAL_CHOSEN)
}

/// Initiator check of the responder's choice: exactly one proposal, equal to one of ours
/// (RFC 7296 §2.7 "MUST verify").
pub fn check_ike_reply(ours: &[IkeProposal], reply: &Sa) -> Option<(IkeProposal, Vec<u8>)> {
    let [prop] = reply.proposals.as_slice() else {
        return None;
    };
    if prop.protocol != ProtocolId::IKE || prop.transforms.len() != 3 {
        return None;
    }
    ours.iter()
        .find(|m| offers(prop, &ike_transforms(m)))
        .map(|m| (*m, prop.spi.clone()))
}

/// Negotiated GSA suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GsaSuite {
    pub protection: Protection,
    pub key_bits: u16,
    /// D-H group for PFS in CREATE_CHILD_SA, if negotiated.
    pub dh: Option<u16>,
}

impl GsaSuite {
    pub fn from_config(c: &GsaConfig, with_pfs: bool) -> Self {
        Self {
            protection: c.protection,
            key_bits: c.key_bits,
            dh: if with_pfs { c.pfs_group } else { None },
        }
    }

    fn encr(&self) -> EncrId {
        match self.protection {
            Protection::Geo => EncrId::ENCR_AES_GCM_16,
            Protection::Gao => EncrId::ENCR_NULL_AUTH_AES_GMAC,
        }
    }

    fn transforms(&self) -> Vec<Transform> {
        let mut t = vec![
            Transform::encr(self.encr(), Some(self.key_bits)),
            Transform::esn(EsnId::ESN),
        ];
        if let Some(g) = self.dh {
            t.push(Transform::dh(DhGroup(g)));
        }
        t
    }

    /// Octets of one direction's key: AES key || 4-byte salt (GEO and GMAC alike).
    pub fn key_len(&self) -> usize {
        usize::from(self.key_bits / 8) + 4
    }
}

/// A GSA proposal: Protocol 201, SPI = the GSA-ID we want to receive on.
pub fn gsa_sa_payload(suite: &GsaSuite, inbound_gsa_id: u32) -> Sa {
    Sa::new(vec![Proposal::new(
        1,
        ProtocolId::GSA,
        inbound_gsa_id.to_be_bytes().to_vec(),
        suite.transforms(),
    )])
}

/// Responder choice of a GSA proposal against our child config. Returns the reply proposal
/// (with `our_gsa_id` as SPI) and the peer's GSA-ID (its inbound, our outbound).
pub fn select_gsa(
    suite: &GsaSuite,
    offered: &Sa,
    our_gsa_id: u32,
) -> Result<(Proposal, u32), NotifyType> {
    let ts = suite.transforms();
    let known = [TransformType::ENCR, TransformType::ESN, TransformType::DH];
    for prop in &offered.proposals {
        if prop.protocol != ProtocolId::GSA || !only_known_types(prop, &known) {
            continue;
        }
        let Some(peer_id) = prop.spi_u32() else {
            continue;
        };
        // Without PFS configured, a proposal that demands a D-H group is refused; with PFS
        // configured it must offer our group.
        let demands_dh = prop.transforms_of(TransformType::DH).any(|t| t.id != 0);
        if (suite.dh.is_none() && demands_dh) || !offers(prop, &ts) || peer_id == 0 {
            continue;
        }
        let reply = Proposal::new(
            prop.number,
            ProtocolId::GSA,
            our_gsa_id.to_be_bytes().to_vec(),
            ts,
        );
        return Ok((reply, peer_id));
    }
    Err(NotifyType::NO_PROPOSAL_CHOSEN)
}

/// Initiator check of the responder's GSA reply; returns the responder's GSA-ID.
pub fn check_gsa_reply(suite: &GsaSuite, reply: &Sa) -> Option<u32> {
    let [prop] = reply.proposals.as_slice() else {
        return None;
    };
    let ts = suite.transforms();
    (prop.protocol == ProtocolId::GSA && prop.transforms.len() == ts.len() && offers(prop, &ts))
        .then(|| prop.spi_u32())
        .flatten()
        .filter(|id| *id != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ike_payload_bytes_match_spec_example() {
        // spec-facts §3.5: AES-256-GCM-16 + PRF_HMAC_SHA2_256 + Curve25519.
        let sa = ike_sa_payload(&[IkeProposal::default()], None);
        let mut body = Vec::new();
        sa.emit_body(&mut body).unwrap();
        let want: &[u8] = &[
            0x00, 0x00, 0x00, 0x24, 0x01, 0x01, 0x00, 0x03, // proposal header: 36 bytes
            0x03, 0x00, 0x00, 0x0c, 0x01, 0x00, 0x00, 0x14, 0x80, 0x0e, 0x01, 0x00, // ENCR
            0x03, 0x00, 0x00, 0x08, 0x02, 0x00, 0x00, 0x05, // PRF
            0x00, 0x00, 0x00, 0x08, 0x04, 0x00, 0x00, 0x1f, // D-H
        ];
        assert_eq!(body, want);
    }

    #[test]
    fn responder_prefers_configured_order() {
        let a = IkeProposal {
            encr_key_bits: 128,
            ..Default::default()
        };
        let b = IkeProposal::default();
        let offered = ike_sa_payload(&[a, b], None);
        let (reply, chosen, _) = select_ike(&[b, a], &offered).unwrap();
        assert_eq!(chosen, b);
        assert_eq!(reply.number, 2);
        assert_eq!(
            check_ike_reply(&[a, b], &Sa::new(vec![reply])),
            Some((b, vec![]))
        );
        let c = IkeProposal {
            prf: 6,
            ..Default::default()
        };
        assert_eq!(
            select_ike(&[c], &offered).unwrap_err(),
            NotifyType::NO_PROPOSAL_CHOSEN
        );
    }

    #[test]
    fn gsa_selection_and_pfs_rules() {
        let geo = GsaSuite {
            protection: Protection::Geo,
            key_bits: 256,
            dh: None,
        };
        let offered = gsa_sa_payload(&geo, 0x1111_2222);
        let (reply, peer) = select_gsa(&geo, &offered, 0x3333_4444).unwrap();
        assert_eq!(peer, 0x1111_2222);
        assert_eq!(reply.spi, vec![0x33, 0x33, 0x44, 0x44]);
        assert_eq!(
            check_gsa_reply(&geo, &Sa::new(vec![reply])),
            Some(0x3333_4444)
        );
        let gao = GsaSuite {
            protection: Protection::Gao,
            ..geo
        };
        assert!(select_gsa(&gao, &offered, 1).is_err());
        let pfs = GsaSuite {
            dh: Some(31),
            ..geo
        };
        assert!(select_gsa(&geo, &gsa_sa_payload(&pfs, 5), 1).is_err());
        assert!(select_gsa(&pfs, &gsa_sa_payload(&pfs, 5), 1).is_ok());
        assert!(select_gsa(&pfs, &offered, 1).is_err());
        assert_eq!(geo.key_len(), 36);
    }
}
