//! How much of an answer fits in the reply: whole records only, TC set when an answer or
//! authority record had to be left out (RFC 1035 section 4.2.1, RFC 2181 section 9).
//!
//! Sits at the very end of the provider step (plan -> **provider** -> **verify**): hickory
//! 0.26 writes records into a buffer capped at the size limit and, when one does not fit,
//! rewinds its write position but leaves the bytes of the half-written record in the buffer,
//! which it then sends: `dig` reports "extra bytes at end" and dnspython `TrailingJunk`. So the
//! handler measures first with the same encoder (same order, same name compression, so the
//! same sizes) and hands hickory only the records that fit; hickory's encode then never hits
//! the limit.

use hickory_proto::op::Edns;
use hickory_proto::rr::Record;
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};
use hickory_proto::ProtoError;

/// The size of a DNS header.
const HEADER_LEN: usize = 12;

/// How many records of each section go into the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fit {
    /// Leading answer records that fit.
    pub answers: usize,
    /// Leading authority records that fit.
    pub authorities: usize,
    /// Leading additional records that fit.
    pub additionals: usize,
    /// An answer or authority record was left out: the reply must carry TC so the client
    /// retries over TCP. Additional records left out do not set it (RFC 2181 section 9).
    pub truncated: bool,
}

/// Measures a reply to `question` (the question section exactly as the client sent it)
/// carrying `sections` (answer, authority, additional) and `edns`, against `limit` bytes.
///
/// Sections are filled in order and a section that is cut ends the reply, so a client never
/// sees an authority record without the whole answer. The OPT record always fits when the
/// header and question do (its room is kept aside first).
pub fn fit(question: &[u8], sections: [&[Record]; 3], edns: Option<&Edns>, limit: u16) -> Fit {
    let opt = edns.map_or(0, opt_len);
    let mut buf = Vec::with_capacity(usize::from(limit));
    let mut enc = BinEncoder::new(&mut buf);
    enc.set_max_size(limit.saturating_sub(opt));
    let mut fit = Fit {
        answers: 0,
        authorities: 0,
        additionals: 0,
        truncated: false,
    };
    if enc.emit_vec(&[0; HEADER_LEN]).is_err() || !emit_question(&mut enc, question) {
        // Not even the question fits: hickory answers SERVFAIL with a bare header.
        fit.truncated = true;
        return fit;
    }
    let [answers, authorities, additionals] = sections;
    fit.answers = emit(&mut enc, answers);
    if fit.answers < answers.len() {
        fit.truncated = true;
        return fit;
    }
    fit.authorities = emit(&mut enc, authorities);
    if fit.authorities < authorities.len() {
        fit.truncated = true;
        return fit;
    }
    fit.additionals = emit(&mut enc, additionals);
    fit
}

/// The question as hickory writes it: the client's bytes, then one compression candidate
/// (`QueriesEmitAndCount` in hickory-server 0.26), so the sizes after it match.
fn emit_question(enc: &mut BinEncoder<'_>, question: &[u8]) -> bool {
    let start = enc.offset();
    if enc.emit_vec(question).is_err() {
        return false;
    }
    if matches!(enc.name_encoding(), NameEncoding::Compressed) && !question.is_empty() {
        enc.store_label_pointer(start, start + question.len());
    }
    true
}

/// Emits whole records while they fit, as hickory does; returns how many did. A record that
/// cannot be encoded at all counts as not fitting, so hickory never meets it either.
fn emit(enc: &mut BinEncoder<'_>, records: &[Record]) -> usize {
    match enc.emit_all(records.iter()) {
        Ok(n) => n,
        Err(ProtoError::NotAllRecordsWritten { count, .. }) => count,
        Err(_) => 0,
    }
}

/// Bytes of the OPT record hickory appends for `edns`.
fn opt_len(edns: &Edns) -> u16 {
    let mut buf = Vec::new();
    let mut enc = BinEncoder::new(&mut buf);
    match Record::from(edns).emit(&mut enc) {
        Ok(()) => u16::try_from(buf.len()).unwrap_or(u16::MAX),
        Err(_) => u16::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{Name, RData};
    use std::str::FromStr;

    fn records(n: usize) -> Result<Vec<Record>, String> {
        let owner = Name::from_str("www.example.test.").map_err(|e| e.to_string())?;
        Ok((0..n)
            .map(|i| {
                let ip = std::net::Ipv4Addr::new(192, 0, 2, i as u8);
                Record::from_rdata(owner.clone(), 60, RData::A(A(ip)))
            })
            .collect())
    }

    #[test]
    fn whole_records_only_and_tc_only_for_answer_or_authority() -> Result<(), String> {
        let question = [3, b'w', b'w', b'w', 0, 0, 1, 0, 1];
        let answers = records(40)?;
        let f = fit(&question, [&answers, &[], &[]], None, 512);
        assert!(f.truncated && f.answers > 0 && f.answers < 40, "{f:?}");
        let f = fit(&question, [&answers[..2], &[], &answers], None, 512);
        assert_eq!((f.answers, f.truncated), (2, false), "{f:?}");
        assert!(f.additionals < 40);
        let f = fit(&question, [&answers, &[], &[]], None, u16::MAX);
        assert_eq!((f.answers, f.truncated), (40, false));
        Ok(())
    }

    #[test]
    fn room_is_kept_for_the_opt_record() -> Result<(), String> {
        let question = [3, b'w', b'w', b'w', 0, 0, 1, 0, 1];
        let answers = records(40)?;
        let plain = fit(&question, [&answers, &[], &[]], None, 512);
        let edns = Edns::new();
        let with_opt = fit(&question, [&answers, &[], &[]], Some(&edns), 512);
        assert!(with_opt.answers < plain.answers, "{plain:?} {with_opt:?}");
        Ok(())
    }
}
