//! Unit-level checks of the small public types: open enums, loose ids, the poll schedule.

use std::time::Duration;

use mangrove::lenient::LooseId;
use mangrove::open_enum::ReportStatus;
use mangrove::{ExportFormat, ExportStatus, PollPolicy, ResourceType};

#[test]
fn unknown_values_round_trip() {
    let status: ExportStatus = serde_json::from_str("\"expired\"").unwrap();
    assert_eq!(status, ExportStatus::Unknown("expired".into()));
    assert_eq!(serde_json::to_string(&status).unwrap(), "\"expired\"");
    let known: ExportStatus = serde_json::from_str("\"completed\"").unwrap();
    assert_eq!(known, ExportStatus::Completed);
    assert!(known.is_terminal());
    assert_eq!(
        "draft".parse::<ReportStatus>().unwrap(),
        ReportStatus::Draft
    );
}

#[test]
fn parsing_is_strict_and_decoding_is_open() {
    assert_eq!(
        "Delivery".parse::<ResourceType>().unwrap(),
        ResourceType::Delivery
    );
    let typo = "Delivry".parse::<ResourceType>().unwrap_err();
    assert_eq!(typo.to_string(), "`Delivry` is not a known ResourceType");
    assert!("xml".parse::<ExportFormat>().is_err());
    let decoded: ExportFormat = serde_json::from_str("\"parquet\"").unwrap();
    assert_eq!(decoded, ExportFormat::Unknown("parquet".into()));
    assert_eq!(
        serde_json::to_string(&ResourceType::TrackingUnit).unwrap(),
        "\"TrackingUnit\""
    );
}

#[test]
fn other_json_is_refused_with_what_was_found() {
    let e = serde_json::from_str::<LooseId>(r#"{"nested":true}"#).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("invalid type: map, expected an integer or a string id"),
        "{e}"
    );
    assert!(serde_json::from_str::<LooseId>("1.5").is_err());
    assert_eq!(
        serde_json::from_str::<LooseId>("18446744073709551615").unwrap(),
        LooseId::Str("18446744073709551615".into())
    );
}

#[test]
fn loose_ids_round_trip_as_sent() {
    for text in ["1", "-3", r#""fs_abc""#, r#""12""#] {
        let id: LooseId = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), text);
    }
    assert_eq!(LooseId::from("12"), LooseId::Str("12".into()));
    assert!(serde_json::from_str::<LooseId>("1.5").is_err());
    assert!(serde_json::from_str::<LooseId>("{}").is_err());
}

#[test]
fn default_schedule_for_a_minute_long_export() {
    let p = PollPolicy::default();
    let mut at = Duration::ZERO;
    let mut polls = 0;
    while at < Duration::from_secs(60) {
        polls += 1;
        at += p.delay_after(polls);
    }
    // 1, 3, 7, 15, 25, 35, 45, 55, 65: the completion at 60 s is seen by poll 9.
    assert_eq!(polls, 9);
    assert_eq!(at, Duration::from_secs(65));
}

#[test]
fn odd_multipliers_do_not_panic() {
    for m in [f64::NAN, f64::INFINITY, -3.0, 0.0, 1e300] {
        let p = PollPolicy::default().multiplier(m);
        for poll in [1, 2, 100, u32::MAX] {
            assert!(p.delay_after(poll) <= p.max_delay);
        }
    }
}
