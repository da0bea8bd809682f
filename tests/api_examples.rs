//! Every JSON example of the Mangrove API reference (`shared/reference/mangrove-api.md`) decodes
//! into its generated type, keeps every documented field, and (for request bodies) is exactly what
//! the typed request serializes to. The examples are copied verbatim below; the three truncated
//! ones (`[...]`, `…`) are completed by the functions next to them.

mod common;

use common::{assert_request_matches, decode_lossless, json, t};
use mangrove::lenient::LooseId;
use mangrove::open_enum::{
    BatchState, ExportFormat, ModelRunState, RecordStatus, ReportStatus, RuleResultStatus,
};
use mangrove::summary::BodyKind;
use mangrove::types::{self, DataPointValue, Ghg};
use mangrove::{ExportStatus, ListBody};

/// Verbatim: block 0 of mangrove-api.md.
const PAGINATION_EXAMPLE: &str = r#"{
  "data": [...],
  "info": {
    "items": 10,
    "page_size": 10,
    "total_items": 15,
    "current_page": 1,
    "next_page": 2,
    "previous_page": null,
    "total_pages": 1
  }
}"#;

/// Verbatim: block 1 of mangrove-api.md.
const SUMMARY_WITH_EXPORT_EXAMPLE: &str = r#"{
  "count": 42,
  "samples": [...],
  "response_mode": "summary_with_export",
  "export": {
    "id": "exp_ABC123",
    "status": "pending",
    "status_url": "https://app.gomangrove.com/api/v1/exports/exp_ABC123"
  }
}"#;

/// Verbatim: block 2 of mangrove-api.md.
const EXPORT_STATUS_OVERVIEW: &str = r#"{
  "id": "exp_ABC123",
  "status": "completed",
  "download_url": "https://...",
  "file_size_bytes": 102400,
  "format": "csv"
}"#;

/// Verbatim: block 3 of mangrove-api.md.
const EXPORT_STATUS_GET_PAGE: &str = r#"{
  "id": "<string>",
  "download_url": "<string>",
  "file_size_bytes": 123,
  "format": "<string>",
  "created_at": "2023-11-07T05:31:56Z",
  "completed_at": "2023-11-07T05:31:56Z",
  "error": "<string>"
}"#;

/// Verbatim: block 4 of mangrove-api.md.
const ERROR_BODY: &str = r#"{
  "message": "Record not found."
}"#;

/// Verbatim: block 5 of mangrove-api.md.
const PROJECT: &str = r#"{
  "id": 123,
  "name": "Southeast Capture Project",
  "description": "SCP is a biochar carbon removal project based in the Southeast. It applies innovative interventions at bioenergy plants to sequester carbon durably in the form of carbon-dense biochar.",
  "project_type": "Biochar",
  "credit_types": ["CORC"],
  "country": "US",
  "state": "Washington",
  "project_status": "ACTIVE",
  "registry_name": "Puro.Earth",
  "registry_link": "",
  "methodology": "Puro Biochar Methodology v3 2023",
  "images": [{ "name": "Image.png", "url": "http://...." }],
  "sustainable_development_goals": ["good_health_and_wellbeing", "quality_education"]
}"#;

/// Verbatim: block 6 of mangrove-api.md.
const EVENT: &str = r#"{
  "id": "evt_DLnYvzbjSujNAvXE",
  "slug": "biochar-delivery",
  "event_type": "Biochar Delivery",
  "tracking_id": "MG1003",
  "start_time": "2024-06-04T00:00:00.000Z",
  "end_time": "2024-06-04T23:59:59.000Z",
  "data_points": [
    {
      "id": "in_JuGzRS08MbVSEkCj",
      "slug": "total-ash-delivered-wet-us-ton",
      "data_point_type": "Total Ash Delivered (wet mass) U.S. ton",
      "value": 290.6,
      "unit": "U.S. ton",
      "status": "complete"
    },
    {
      "id": "in_c3krFTxCxJSQR5Rc",
      "slug": "distance-biochar-transported",
      "data_point_type": "Biochar distance transported",
      "value": 15.3,
      "unit": "mile",
      "status": "complete"
    },
    {
      "id": "in_AIKqFEtr5OpAqram",
      "slug": "biochar-end-use",
      "data_point_type": "Biochar end use",
      "value": "soil amendment",
      "unit": null,
      "status": "complete"
    }
  ],
  "locations": [
    {
      "id": "loc_8XF1QtGs79oX9A6k",
      "lat": "40.4773493",
      "long": "-124.1226179",
      "name": "Production Facility",
      "address": {
        "name": "Production Facility",
        "street_address_1": null,
        "street_address_2": null,
        "city": null,
        "state": null,
        "postal_code": null,
        "country": "CA"
      }
    },
    {
      "id": "loc_8XF1QtGs79oX9A6k",
      "lat": "41.2733453",
      "long": "-122.2246676",
      "name": "Customer Location",
      "address": {
        "name": "Customer Location",
        "street_address_1": null,
        "street_address_2": null,
        "city": null,
        "state": null,
        "postal_code": null,
        "country": "CA"
      }
    }
  ],
  "evidences": [
    {
      "id": 1,
      "url": "XXXXXXX",
      "evidence_type": "file",
      "name": "Receipt.pdf"
    }
  ]
}"#;

/// Verbatim: block 7 of mangrove-api.md.
const EVENT_CREATE_REQUEST: &str = r#"{
  "event": {
    "event_type": "biochar-delivery",
    "start_time": "2024-06-04T00:00:00.000Z",
    "end_time": "2024-06-04T23:59:59.000Z",
    "tracking_id": "MG1003",
    "notes": "A note about this event",
    "locations": [
      {
        "id": "loc_8XF1QtGs79oX9A6k"
      },
      {
        "id": "loc_7nxaDUf65c36v6mz"
      }
    ],
    "data_points": [
      {
        "slug": "total-ash-delivered-wet-us-ton",
        "value": 290.6
      },
      {
        "slug": "distance-biochar-transported",
        "value": 15.3
      },
      {
        "slug": "biochar-end-use",
        "value": "soil amendment"
      }
    ]
  }
}"#;

/// Verbatim: block 8 of mangrove-api.md.
const EVENT_UPDATE_REQUEST: &str = r#"{
  "event": {
    "start_time": "2024-06-05T00:00:00.000Z",
    "end_time": "2024-06-05T23:59:59.000Z",
    "locations": [
      {
        "id": "loc_8XF1QtGs79oX9A6k"
      },
      {
        "id": "loc_8XF1QtGs79oX9A6k"
      }
    ],
    "data_points": [
      {
        "slug": "total-ash-delivered-wet-us-ton",
        "value": 290.7
      }
    ]
  }
}"#;

/// Verbatim: block 9 of mangrove-api.md.
const EVENT_TYPES_LIST_EXCERPT: &str = r#"{
  "data": [
    {
      "slug": "co2-capture",
      "name": "CO2 Capture measurement",
      "updated_at": "2024-12-11T22:20:13.956Z",
      "data_point_types": [
        {
          "slug": "high-conc-co2-outflow-mass-flow-rate",
          "name": "High concentration CO₂ outflow mass flow rate",
          "value_type": "number",
          "unit": "g/s"
        },
        {
          "slug": "high-conc-co2-outflow-co2-mass-fraction",
          "name": "High concentration CO₂ outflow CO₂ mass fraction",
          "value_type": "number",
          "unit": "%"
        },
        {
          "slug": "high-conc-co2-outflow-temperature",
          "name": "High concentration CO₂ outflow temperature",
          "value_type": "number",
          "unit": "°C"
        …"#;

/// Verbatim: block 10 of mangrove-api.md.
const DATA_POINT: &str = r#"{
  "id": "in_kiIuaGIUqRxWUmTY",
  "slug": "total-ash-delivered-wet-us-ton",
  "data_point_type": "Total Ash Delivered (wet mass) U.S. ton",
  "value": 290.6,
  "unit": "U.S. ton",
  "status": "complete",
  "rule_results": [
    {
      "id": "dpres_8XF1QtGs79oX9A6k",
      "status": "dismissed",
      "entered_value": "290.6",
      "rule_id": "rule_Qb3k9TzdL0pWnXyz",
      "rule_version": 2,
      "rule_name": "Ash mass within expected range",
      "data_point_id": "in_kiIuaGIUqRxWUmTY",
      "data_point_slug": "total-ash-delivered-wet-us-ton",
      "dismissed_at": "2024-06-05T09:10:00.000Z",
      "dismissed_by": "Aaron Rosenberg",
      "dismissal_reason": "Verified against weighbridge ticket",
      "evaluated_at": "2024-06-05T09:10:00.000Z"
    }
  ]
}"#;

/// Verbatim: block 11 of mangrove-api.md.
const BULK_DISMISS_REQUEST: &str = r#"{
  "result_ids": [
    "dpres_8XF1QtGs79oX9A6k",
    "dpres_7nxaDUf65c36v6mz",
    "mrres_AIKqFEtr5OpAqram"
  ],
  "reason": "Reviewed with site engineer — sensor recalibrated, readings are expected."
}"#;

/// Verbatim: block 12 of mangrove-api.md.
const BULK_DISMISS_RESPONSE: &str = r#"{
  "data": [
    {
      "id": "dpres_8XF1QtGs79oX9A6k",
      "status": "dismissed",
      "entered_value": "-2.5",
      "rule_id": "rule_Qb3k9TzdL0pWnXyz",
      "rule_version": 3,
      "rule_name": "Negative Temp Alert",
      "data_point_id": "in_JuGzRS08MbVSEkCj",
      "data_point_slug": "ambient-temperature-c",
      "dismissed_at": "2026-06-18T19:43:11.000Z",
      "dismissed_by": "Aaron Rosenberg",
      "dismissal_reason": "Reviewed with site engineer — sensor recalibrated, readings are expected.",
      "evaluated_at": "2026-06-18T19:43:11.000Z"
    },
    {
      "id": "mrres_AIKqFEtr5OpAqram",
      "status": "dismissed",
      "checked_value": "1450.2",
      "node_ids": [
        "node_total_emissions"
      ],
      "rule_id": "rule_Lp7m2XcQd0RtVbnm",
      "rule_version": 1,
      "rule_name": "Emissions Ceiling",
      "model_run_id": "mr_c3krFTxCxJSQR5Rc",
      "dismissed_at": "2026-06-18T19:43:11.000Z",
      "dismissed_by": "Aaron Rosenberg",
      "dismissal_reason": "Reviewed with site engineer — sensor recalibrated, readings are expected.",
      "evaluated_at": "2026-06-18T19:43:11.000Z"
    }
  ]
}"#;

/// Verbatim: block 13 of mangrove-api.md.
const EVIDENCE_LIST: &str = r#"{
  "data": [
    {
      "id": 1,
      "url": "https://app.gomangrove.com/....",
      "evidence_type": "file",
      "name": "Receipt.pdf"
    },
    {
      "id": 2,
      "url": "https://www.example.com",
      "evidence_type": "url",
      "name": "External Reference"
    }
  ],
  "info": {
    "items": 2,
    "page_size": 10,
    "total_items": 2,
    "current_page": 1,
    "next_page": null,
    "previous_page": null,
    "total_pages": 1,
    "sort": [],
    "filter": []
  }
}"#;

/// Verbatim: block 14 of mangrove-api.md.
const BATCH_LIST: &str = r#"{
  "data": [
    {
      "id": "bat_abc123def456",
      "tracking_id": "Q1-2025-001",
      "start_time": "2025-01-01T00:00:00.000Z",
      "end_time": "2025-03-31T23:59:59.000Z",
      "state": "complete",
      "created_at": "2025-01-15T10:00:00.000Z",
      "updated_at": "2025-01-15T10:00:00.000Z",
      "primary_output": {
        "id": 1,
        "name": "Net Carbon Removal",
        "unit": "t",
        "data_point_type_id": 5,
        "value": 100.5
      },
      "ledger_balance": 50.25,
      "allocations": [],
      "model_run": {
        "id": 1,
        "start_time": "2025-01-01T00:00:00.000Z",
        "end_time": "2025-03-31T23:59:59.000Z",
        "state": "complete",
        "error_message": null,
        "created_at": "2025-01-15T10:00:00.000Z",
        "updated_at": "2025-01-15T10:00:00.000Z",
        "calculations": [],
        "output_data_points": []
      },
      "feedstocks": []
    }
  ],
  "info": {
    "items": 1,
    "page_size": 10,
    "total_items": 1,
    "current_page": 1,
    "next_page": null,
    "previous_page": null,
    "total_pages": 1,
    "sort": [],
    "filter": []
  }
}"#;

/// Verbatim: block 15 of mangrove-api.md.
const BATCH: &str = r#"{
  "id": "bat_abc123def456",
  "tracking_id": "Q1-2025-001",
  "start_time": "2025-01-01T00:00:00.000Z",
  "end_time": "2025-03-31T23:59:59.000Z",
  "state": "complete",
  "created_at": "2025-01-15T10:00:00.000Z",
  "updated_at": "2025-01-15T10:00:00.000Z",
  "primary_output": {
    "id": 1,
    "name": "Net Carbon Removal",
    "unit": "t",
    "data_point_type_id": 5,
    "value": 100.5
  },
  "ledger_balance": 50.25,
  "allocations": [],
  "model_run": {
    "id": 1,
    "start_time": "2025-01-01T00:00:00.000Z",
    "end_time": "2025-03-31T23:59:59.000Z",
    "state": "complete",
    "error_message": null,
    "created_at": "2025-01-15T10:00:00.000Z",
    "updated_at": "2025-01-15T10:00:00.000Z",
    "calculations": [],
    "output_data_points": []
  },
  "feedstocks": [],
  "input_data": [
    {
      "data_point": {
        "id": "in_abc123",
        "slug": "feedstock-mass",
        "data_point_type": "Mass of Feedstock",
        "value": 50.5,
        "unit": "t",
        "status": "complete"
      },
      "event": {
        "id": "evt_xyz789",
        "slug": "feedstock-delivery",
        "event_type": "Feedstock Delivery",
        "tracking_id": "FD-001",
        "start_time": "2025-01-15T00:00:00.000Z",
        "end_time": "2025-01-15T23:59:59.000Z"
      }
    }
  ],
  "report_allocations": [
    {
      "allocation": {
        "id": 1,
        "amount": 50.25,
        "unit": "t"
      },
      "amount": 50.25,
      "unit": "t",
      "report": {
        "id": "rpt_abc123",
        "name": "Q1 2025 Report",
        "report_type": "quarterly",
        "status": "complete"
      }
    }
  ],
  "downstream_batch_allocations": []
}"#;

/// Verbatim: block 16 of mangrove-api.md.
const UPDATE_INPUTS_REQUEST: &str = r#"{
  "skipped_data_point_type_ids": [
    42,
    99
  ]
}"#;

/// Verbatim: block 17 of mangrove-api.md.
const UPDATE_INPUTS_RESPONSE: &str = r#"{
  "id": "bat_abc123def456",
  "tracking_id": "MG-2025-001",
  "start_time": "2025-01-01T00:00:00.000Z",
  "end_time": "2025-03-31T23:59:59.000Z",
  "state": "processing",
  "error_message": null,
  "primary_output": {
    "id": 1,
    "name": "RNG produced",
    "unit": "MMBtu",
    "data_point_type_id": 5,
    "value": 9146
  },
  "has_rule_alerts": false,
  "created_at": "2025-01-15T10:00:00.000Z",
  "updated_at": "2025-04-02T11:30:00.000Z"
}"#;

/// Verbatim: block 18 of mangrove-api.md.
const LEDGER: &str = r#"{
  "id": "lgr_abc123def456",
  "name": "Net Carbon Removal",
  "unit": "t",
  "system_ledger_type": null,
  "partition_type": "time",
  "cadence": "monthly",
  "latest_model": {
    "id": "mdl_abc123def456",
    "name": "Carbon Calculation Model"
  },
  "asset_category": null,
  "created_at": "2025-01-15T10:00:00.000Z",
  "updated_at": "2025-01-15T10:00:00.000Z"
}"#;

/// Verbatim: block 19 of mangrove-api.md.
const LEDGER_LIST: &str = r#"{
  "data": [
    {
      "id": "lgr_abc123def456",
      "name": "Net Carbon Removal",
      "unit": "t",
      "system_ledger_type": null,
      "partition_type": "feedstock",
      "cadence": "monthly",
      "latest_model": {
        "id": "mdl_xyz789",
        "name": "Carbon Calculation Model"
      },
      "asset_category": null,
      "created_at": "2025-01-15T10:00:00.000Z",
      "updated_at": "2025-01-15T10:00:00.000Z"
    }
  ]
}"#;

/// Verbatim: block 20 of mangrove-api.md.
const GENERATE_PREVIEW_RESPONSE: &str =
    r#"{ "data": [ { "id": "lgr_abc123def456", "name": "Net Carbon Removal", "count": 3 } ] }"#;

/// Verbatim: block 21 of mangrove-api.md.
const MODEL: &str = r#"{
  "id": "mdl_abc123def456",
  "name": "Carbon Calculation Model",
  "version": 1,
  "is_latest": true,
  "cadence": "monthly",
  "partition_type": "feedstock",
  "order": 1,
  "created_at": "2025-01-15T10:00:00.000Z",
  "updated_at": "2025-01-15T10:00:00.000Z"
}"#;

/// Verbatim: block 22 of mangrove-api.md.
const CREATE_VERSION_REQUEST: &str = r#"{
  "yaml": "nexus:\n  - name: Updated Net Carbon Removal\n    formula: input_1 - input_2 - input_3\n"
}"#;

/// Verbatim: block 23 of mangrove-api.md.
const MODEL_SCHEMA: &str = r#"{
  "model": {
    "id": "mdl_abc123def456",
    "name": "Carbon Calculation Model",
    "version": 1
  },
  "required_inputs": [
    {
      "slug": "feedstock-volume",
      "name": "Feedstock Volume",
      "type": "numeric",
      "unit": "kg",
      "description": "Volume of feedstock processed"
    }
  ],
  "outputs": [
    {
      "id": 1,
      "name": "Net Carbon Removal",
      "unit": "t",
      "ghg": "co2e",
      "lca_role": "net"
    }
  ],
  "operators": [
    "add",
    "subtract",
    "multiply",
    "divide"
  ],
  "example_simulation": {
    "inputs": {
      "feedstock-volume": 1000
    },
    "start_time": "2025-01-01T00:00:00Z",
    "end_time": "2025-03-31T23:59:59Z"
  }
}"#;

/// Verbatim: block 24 of mangrove-api.md.
const SIMULATE_REQUEST: &str = r#"{
  "inputs": {
    "feedstock-volume": 1000,
    "carbon-content": 0.45
  },
  "start_time": "2025-01-01T00:00:00Z",
  "end_time": "2025-03-31T23:59:59Z"
}"#;

/// Verbatim: block 25 of mangrove-api.md.
const SIMULATE_RESPONSE: &str = r#"{
  "results": {
    "net-carbon-removal": 450.5,
    "emissions": 12.3
  },
  "errors": [],
  "execution_time_ms": 45.2
}"#;

/// Verbatim: block 26 of mangrove-api.md.
const MODEL_RUNS_LIST: &str = r#"{
  "data": [
    {
      "id": 1,
      "start_time": "2025-01-01T00:00:00.000Z",
      "end_time": "2025-03-31T23:59:59.000Z",
      "state": "complete",
      "error_message": null,
      "created_at": "2025-01-15T10:00:00.000Z",
      "updated_at": "2025-01-15T10:00:00.000Z",
      "calculations": [
        {
          "id": 1,
          "name": "Net Carbon Removal",
          "value": 100.5,
          "unit": "t",
          "ghg": "co2e",
          "lca_role": "net",
          "category": "removal"
        }
      ],
      "output_data_points": [
        {
          "id": "dp_abc123",
          "slug": "net-carbon-removal",
          "data_point_type": "Net Carbon Removal",
          "value": 100.5,
          "unit": "t",
          "status": "complete"
        }
      ]
    }
  ]
}"#;

/// Verbatim: block 27 of mangrove-api.md.
const CREATE_MODEL_RUN_REQUEST: &str = r#"{
  "model_run": {
    "start_time": "2025-01-01T00:00:00Z",
    "end_time": "2025-03-31T23:59:59Z",
    "data_point_ids": [
      "dp_abc123",
      "dp_def456"
    ]
  }
}"#;

/// Verbatim: block 28 of mangrove-api.md.
const REPORT: &str = r#"{
  "id": "rpt_abc123def456",
  "name": "Q1 2025 Carbon Report",
  "report_type": "quarterly",
  "status": "complete",
  "project_id": 123,
  "created_at": "2025-01-15T10:00:00.000Z",
  "updated_at": "2025-01-15T10:00:00.000Z",
  "inclusions": [],
  "allocation": {
    "id": 1,
    "amount": 100.5,
    "unit": "t",
    "created_at": "2025-01-15T10:00:00.000Z"
  }
}"#;

/// Verbatim: block 29 of mangrove-api.md.
const REPORT_PATCH_REQUEST: &str = r#"{
  "report": {
    "name": "Updated Report Name",
    "batch_ids": [
      "bat_abc123def456",
      "bat_xyz789"
    ]
  }
}"#;

/// Verbatim: block 30 of mangrove-api.md.
const ORDER: &str = r#"{
  "id": 1529,
  "order_status": "COMPLETE",
  "customer": "AcmeCo",
  "reference": "A1234567890",
  "deal_date": "2025-01-28",
  "expiry_date": null,
  "currency": "USD",
  "order_terms": "Pay on delivery",
  "delivery_method": "RETIREMENT",
  "deliveries": [
    {
      "friendly_id": "dl_H8pvrPHBQ3Dd76oL",
      "project_name": "Southeast Capture",
      "quantity": 20,
      "price_in_cents_in_currency": 12000,
      "delivery_total_in_cents_in_currency": 12000,
      "currency": "USD",
      "estimated_delivery_date": "2025-02-28",
      "delivered_date": "2025-02-21",
      "delivery_status": "DELIVERED",
      "fulfilled_quantity": 20,
      "delivered_quantity": 20,
      "is_paid": true
    }
  ],
  "created_at": "2024-05-10T15:58:21.209Z",
  "updated_at": "2024-05-10T15:58:21.209Z"
}"#;

/// The pagination example with its `data: [...]` placeholder replaced by an empty list.
fn pagination_example() -> String {
    PAGINATION_EXAMPLE.replace("[...]", "[]")
}

/// The exports-overview `summary_with_export` example with `samples: [...]` replaced by `[]`.
fn summary_with_export_example() -> String {
    SUMMARY_WITH_EXPORT_EXAMPLE.replace("[...]", "[]")
}

/// The sync-events cookbook excerpt, closed after its third data point type.
fn event_types_list() -> String {
    EVENT_TYPES_LIST_EXCERPT.replace('…', "}\n      ]\n    }\n  ]\n}")
}

// Proves: the project object decodes with every field (arrays, images, an empty registry link).
#[test]
fn project_example() {
    let p: types::Project = decode_lossless(PROJECT);
    assert_eq!(p.id, 123);
    assert_eq!(p.name.as_deref(), Some("Southeast Capture Project"));
    assert_eq!(p.project_type.as_deref(), Some("Biochar"));
    assert_eq!(p.credit_types, ["CORC"]);
    assert_eq!(p.project_status.as_deref(), Some("ACTIVE"));
    assert_eq!(p.registry_link.as_deref(), Some(""));
    assert_eq!(p.images[0].name.as_deref(), Some("Image.png"));
    assert_eq!(
        p.sustainable_development_goals,
        ["good_health_and_wellbeing", "quality_education"]
    );
    assert_eq!(p.custom_fields, None);
}

// Proves: GET event decodes numeric and string data point values, string lat/long, null address parts.
#[test]
fn event_get_example() {
    let e: types::Event = decode_lossless(EVENT);
    assert_eq!(e.id, "evt_DLnYvzbjSujNAvXE");
    assert_eq!(e.slug.as_deref(), Some("biochar-delivery"));
    assert_eq!(e.tracking_id.as_deref(), Some("MG1003"));
    assert_eq!(e.start_time, Some(t("2024-06-04T00:00:00Z")));
    assert_eq!(e.end_time, Some(t("2024-06-04T23:59:59Z")));
    assert_eq!(e.data_points.len(), 3);
    assert_eq!(e.data_points[0].value, Some(DataPointValue::Double(290.6)));
    assert_eq!(e.data_points[0].status, Some(RecordStatus::Complete));
    assert_eq!(
        e.data_points[2].value,
        Some(DataPointValue::String("soil amendment".into()))
    );
    assert_eq!(e.data_points[2].unit, None);
    assert_eq!(e.locations[1].lat.as_deref(), Some("41.2733453"));
    let address = e.locations[0].address.as_ref().expect("address");
    assert_eq!(address.country.as_deref(), Some("CA"));
    assert_eq!(address.city, None);
    assert_eq!(e.evidences[0].id, 1);
    assert_eq!(e.evidences[0].evidence_type.as_deref(), Some("file"));
}

// Proves: the typed create-event request serializes to the documented `{"event": {...}}` body.
#[test]
fn event_create_request_example() {
    let built: types::EventRequest = types::EventRequest::builder()
        .event(
            types::EventInput::builder()
                .event_type("biochar-delivery".to_string())
                .start_time(t("2024-06-04T00:00:00.000Z"))
                .end_time(t("2024-06-04T23:59:59.000Z"))
                .tracking_id("MG1003".to_string())
                .notes("A note about this event".to_string())
                .locations(vec![
                    id_ref("loc_8XF1QtGs79oX9A6k"),
                    id_ref("loc_7nxaDUf65c36v6mz"),
                ])
                .data_points(vec![
                    data_point_input("total-ash-delivered-wet-us-ton", 290.6.into()),
                    data_point_input("distance-biochar-transported", 15.3.into()),
                    data_point_input(
                        "biochar-end-use",
                        DataPointValue::String("soil amendment".into()),
                    ),
                ]),
        )
        .try_into()
        .expect("complete request");
    assert_request_matches(&built, EVENT_CREATE_REQUEST);
    assert_eq!(
        built.event.data_points[2].value,
        DataPointValue::String("soil amendment".into())
    );
}

fn id_ref(id: &str) -> types::IdRef {
    types::IdRef::builder()
        .id(id.to_string())
        .try_into()
        .expect("id ref")
}

fn data_point_input(slug: &str, value: DataPointValue) -> types::DataPointInput {
    types::DataPointInput::builder()
        .slug(slug.to_string())
        .value(value)
        .try_into()
        .expect("data point input")
}

// Proves: the typed update-event request (same `EventRequest`, partial fields) matches the docs.
#[test]
fn event_update_request_example() {
    let built: types::EventRequest = types::EventRequest::builder()
        .event(
            types::EventInput::builder()
                .start_time(t("2024-06-05T00:00:00.000Z"))
                .end_time(t("2024-06-05T23:59:59.000Z"))
                .locations(vec![
                    id_ref("loc_8XF1QtGs79oX9A6k"),
                    id_ref("loc_8XF1QtGs79oX9A6k"),
                ])
                .data_points(vec![data_point_input(
                    "total-ash-delivered-wet-us-ton",
                    290.7.into(),
                )]),
        )
        .try_into()
        .expect("complete request");
    assert_request_matches(&built, EVENT_UPDATE_REQUEST);
    assert_eq!(built.event.event_type, None, "absent fields stay absent");
}

// Proves: the cookbook's event-types list (completed) decodes as a page of event types without ids.
#[test]
fn event_types_list_example() {
    let body: ListBody<types::EventType> = decode_lossless(&event_types_list());
    assert_eq!(body.kind(), BodyKind::Page);
    assert_eq!(body.info, None);
    let et = &body.data[0];
    assert_eq!(et.slug.as_deref(), Some("co2-capture"));
    assert_eq!(et.id, None);
    assert_eq!(et.updated_at, Some(t("2024-12-11T22:20:13.956Z")));
    assert_eq!(et.data_point_types.len(), 3);
    assert_eq!(et.data_point_types[2].unit.as_deref(), Some("°C"));
    assert_eq!(et.data_point_types[0].value_type.as_deref(), Some("number"));
}

// Proves: GET data point decodes its rule results (dismissal fields, timestamps, rule version).
#[test]
fn data_point_with_rule_results_example() {
    let dp: types::DataPoint = decode_lossless(DATA_POINT);
    assert_eq!(dp.id, "in_kiIuaGIUqRxWUmTY");
    assert_eq!(dp.value, Some(DataPointValue::Double(290.6)));
    let rr = &dp.rule_results[0];
    assert_eq!(rr.id, "dpres_8XF1QtGs79oX9A6k");
    assert_eq!(rr.status, Some(RuleResultStatus::Dismissed));
    assert_eq!(rr.entered_value.as_deref(), Some("290.6"));
    assert_eq!(rr.rule_version, Some(2));
    assert_eq!(rr.dismissed_at, Some(t("2024-06-05T09:10:00Z")));
    assert_eq!(
        rr.dismissal_reason.as_deref(),
        Some("Verified against weighbridge ticket")
    );
}

// Proves: the typed bulk-dismiss request is the documented unwrapped `{result_ids, reason}` body.
#[test]
fn bulk_dismiss_request_example() {
    let built: types::BulkDismissRequest = types::BulkDismissRequest::builder()
        .result_ids(vec![
            "dpres_8XF1QtGs79oX9A6k".to_string(),
            "dpres_7nxaDUf65c36v6mz".to_string(),
            "mrres_AIKqFEtr5OpAqram".to_string(),
        ])
        .reason(
            "Reviewed with site engineer — sensor recalibrated, readings are expected.".to_string(),
        )
        .try_into()
        .expect("complete request");
    assert_request_matches(&built, BULK_DISMISS_REQUEST);
}

// Proves: the bulk-dismiss response decodes both data-point and model-run rule results.
#[test]
fn bulk_dismiss_response_example() {
    let list: types::RuleResultList = decode_lossless(BULK_DISMISS_RESPONSE);
    assert_eq!(list.data.len(), 2);
    assert_eq!(
        list.data[0].data_point_slug.as_deref(),
        Some("ambient-temperature-c")
    );
    assert_eq!(list.data[0].entered_value.as_deref(), Some("-2.5"));
    let mr = &list.data[1];
    assert_eq!(mr.id, "mrres_AIKqFEtr5OpAqram");
    assert_eq!(mr.checked_value.as_deref(), Some("1450.2"));
    assert_eq!(mr.node_ids, ["node_total_emissions"]);
    assert_eq!(mr.model_run_id.as_deref(), Some("mr_c3krFTxCxJSQR5Rc"));
    assert_eq!(mr.data_point_id, None);
    assert!(list
        .data
        .iter()
        .all(|r| r.status == Some(RuleResultStatus::Dismissed)));
}

// Proves: the evidence list decodes as a page whose info carries `sort` and `filter`.
#[test]
fn evidence_list_example() {
    let body: ListBody<types::Evidence> = decode_lossless(EVIDENCE_LIST);
    assert_eq!(body.kind(), BodyKind::Page);
    assert_eq!(body.data[1].id, 2);
    assert_eq!(body.data[1].evidence_type.as_deref(), Some("url"));
    let info = body.info.expect("info");
    assert_eq!(info.total_items, Some(2));
    assert_eq!(info.next_page, None);
    assert_eq!(info.total_pages, Some(1));
    assert_eq!(
        (info.sort, info.filter),
        (Some(json("[]")), Some(json("[]")))
    );
    // The keys are known to the type: a non-empty `sort` is kept, not ignored.
    let with_sort: ListBody<types::Evidence> = serde_json::from_str(&EVIDENCE_LIST.replacen(
        "\"sort\": []",
        "\"sort\": [\"-created_at\"]",
        1,
    ))
    .unwrap();
    assert_eq!(
        with_sort.info.unwrap().sort,
        Some(json(r#"["-created_at"]"#))
    );
}

// Proves: the batch list decodes (primary output, ledger balance, embedded model run, info).
#[test]
fn batch_list_example() {
    let body: ListBody<types::Batch> = decode_lossless(BATCH_LIST);
    let b = &body.data[0];
    assert_eq!(b.id, "bat_abc123def456");
    assert_eq!(b.state, Some(BatchState::Complete));
    assert_eq!(b.ledger_balance, Some(50.25));
    let po = b.primary_output.as_ref().expect("primary output");
    assert_eq!(
        (po.id.clone(), po.data_point_type_id, po.value),
        (Some(LooseId::Int(1)), Some(5), Some(100.5))
    );
    let run = b.model_run.as_ref().expect("model run");
    assert_eq!(run.id, Some(1));
    assert_eq!(run.state, Some(ModelRunState::Complete));
    assert_eq!(run.error_message, None);
    assert_eq!(body.info.and_then(|i| i.items), Some(1));
}

// Proves: the single batch decodes its input data (data point + event) and report allocations.
#[test]
fn single_batch_example() {
    let b: types::Batch = decode_lossless(BATCH);
    let input = &b.input_data[0];
    let dp = input.data_point.as_ref().expect("data point");
    assert_eq!(dp.id, "in_abc123");
    assert_eq!(dp.value, Some(DataPointValue::Double(50.5)));
    let ev = input.event.as_ref().expect("event");
    assert_eq!(ev.id, "evt_xyz789");
    assert_eq!(ev.tracking_id.as_deref(), Some("FD-001"));
    let ra = &b.report_allocations[0];
    assert_eq!(ra.amount, Some(50.25));
    assert_eq!(
        ra.allocation.as_ref().and_then(|a| a.id.clone()),
        Some(LooseId::Int(1))
    );
    let report = ra.report.as_ref().expect("report");
    assert_eq!(report.id, "rpt_abc123");
    assert_eq!(report.status, Some(ReportStatus::Complete));
    assert!(b.downstream_batch_allocations.is_empty());
}

// Proves: the typed update_inputs request is the documented unwrapped body.
#[test]
fn update_inputs_request_example() {
    let built: types::UpdateBatchInputsRequest = types::UpdateBatchInputsRequest::builder()
        .skipped_data_point_type_ids(vec![42, 99])
        .try_into()
        .expect("request");
    assert_request_matches(&built, UPDATE_INPUTS_REQUEST);
    assert!(built.data_point_ids.is_empty() && built.batch_amounts.is_empty());
}

// Proves: update_inputs' slim batch answer decodes (error_message, has_rule_alerts, integer value).
#[test]
fn update_inputs_response_example() {
    let b: types::Batch = decode_lossless(UPDATE_INPUTS_RESPONSE);
    assert_eq!(b.tracking_id.as_deref(), Some("MG-2025-001"));
    assert_eq!(b.state, Some(BatchState::Processing));
    assert_eq!(b.has_rule_alerts, Some(false));
    assert_eq!(b.error_message, None);
    assert_eq!(b.primary_output.and_then(|p| p.value), Some(9146.0));
    assert_eq!(b.updated_at, Some(t("2025-04-02T11:30:00Z")));
}

// Proves: the ledger decodes with its latest model and null nullable fields.
#[test]
fn ledger_example() {
    let l: types::Ledger = decode_lossless(LEDGER);
    assert_eq!(l.id, "lgr_abc123def456");
    assert_eq!(l.unit.as_deref(), Some("t"));
    assert_eq!(l.system_ledger_type, None);
    assert_eq!(l.partition_type.as_deref(), Some("time"));
    assert_eq!(
        l.latest_model.and_then(|m| m.id).as_deref(),
        Some("mdl_abc123def456")
    );
    assert_eq!(l.asset_category, None);
}

// Proves: the cookbook's ledger list (no `info`) decodes as a page without info.
#[test]
fn ledger_list_example() {
    let body: ListBody<types::Ledger> = decode_lossless(LEDGER_LIST);
    assert_eq!(body.kind(), BodyKind::Page);
    assert_eq!(body.info, None);
    assert_eq!(body.data[0].partition_type.as_deref(), Some("feedstock"));
    assert_eq!(
        body.data[0]
            .latest_model
            .as_ref()
            .and_then(|m| m.id.as_deref()),
        Some("mdl_xyz789")
    );
}

// Proves: the typed ledger PATCH body is `{"ledger": {"name": ...}}`.
#[test]
fn ledger_patch_request_example() {
    let built: types::LedgerRequest = types::LedgerRequest::builder()
        .ledger(types::LedgerInput::builder().name("Updated Ledger Name".to_string()))
        .try_into()
        .expect("request");
    assert_request_matches(&built, r#"{ "ledger": { "name": "Updated Ledger Name" } }"#);
}

// Proves: the typed generate_preview request is the documented unwrapped time range.
#[test]
fn generate_preview_request_example() {
    let built: types::GenerationRequest = types::GenerationRequest::builder()
        .start_time(t("2025-01-01T00:00:00.000Z"))
        .end_time(t("2025-03-31T23:59:59.000Z"))
        .try_into()
        .expect("request");
    assert_request_matches(
        &built,
        r#"{"start_time": "2025-01-01T00:00:00.000Z", "end_time": "2025-03-31T23:59:59.000Z"}"#,
    );
    assert!(built.data_point_ids.is_empty());
}

// Proves: the generate_preview answer decodes into per-ledger counts.
#[test]
fn generate_preview_response_example() {
    let p: types::GeneratePreview = decode_lossless(GENERATE_PREVIEW_RESPONSE);
    assert_eq!(p.data.len(), 1);
    assert_eq!(p.data[0].id.as_deref(), Some("lgr_abc123def456"));
    assert_eq!(p.data[0].count, Some(3));
}

// Proves: the model decodes (version, is_latest, order).
#[test]
fn model_example() {
    let m: types::Model = decode_lossless(MODEL);
    assert_eq!(m.id, "mdl_abc123def456");
    assert_eq!(m.version, Some(1));
    assert_eq!(m.is_latest, Some(true));
    assert_eq!(m.cadence.as_deref(), Some("monthly"));
    assert_eq!(m.order, Some(1));
}

// Proves: the typed model update body is `{"model": {"cadence", "partition_type"}}`.
#[test]
fn model_update_request_example() {
    let built: types::ModelRequest = types::ModelRequest::builder()
        .model(
            types::ModelInput::builder()
                .cadence("monthly".to_string())
                .partition_type("feedstock".to_string()),
        )
        .try_into()
        .expect("request");
    assert_request_matches(
        &built,
        r#"{ "model": { "cadence": "monthly", "partition_type": "feedstock" } }"#,
    );
}

// Proves: the typed create-version body is the unwrapped `{"yaml": ...}` with real newlines.
#[test]
fn create_version_request_example() {
    let built: types::ModelVersionRequest = types::ModelVersionRequest::builder()
        .yaml("nexus:\n  - name: Updated Net Carbon Removal\n    formula: input_1 - input_2 - input_3\n".to_string())
        .try_into()
        .expect("request");
    assert_request_matches(&built, CREATE_VERSION_REQUEST);
    assert_eq!(built.yaml.lines().count(), 3);
}

// Proves: the model schema decodes inputs (`type` keyword), outputs, operators and the example simulation.
#[test]
fn model_schema_example() {
    let s: types::ModelSchema = decode_lossless(MODEL_SCHEMA);
    assert_eq!(s.model.as_ref().and_then(|m| m.version), Some(1));
    let input = &s.required_inputs[0];
    assert_eq!(input.slug.as_deref(), Some("feedstock-volume"));
    assert_eq!(input.type_.as_deref(), Some("numeric"));
    assert_eq!(input.unit.as_deref(), Some("kg"));
    let out = &s.outputs[0];
    assert_eq!(out.id, Some(LooseId::Int(1)));
    assert_eq!(out.ghg, Some(Ghg::String("co2e".into())));
    assert_eq!(out.lca_role.as_deref(), Some("net"));
    assert_eq!(s.operators, ["add", "subtract", "multiply", "divide"]);
    let sim = s.example_simulation.expect("example simulation");
    assert_eq!(sim.inputs.get("feedstock-volume"), Some(&1000.0));
    assert_eq!(sim.end_time, t("2025-03-31T23:59:59Z"));
}

// Proves: the typed simulate request is the documented unwrapped `{inputs, start_time, end_time}`.
#[test]
fn simulate_request_example() {
    let built: types::SimulationRequest = types::SimulationRequest::builder()
        .inputs(
            [
                ("feedstock-volume".to_string(), 1000.0),
                ("carbon-content".to_string(), 0.45),
            ]
            .into_iter()
            .collect::<std::collections::HashMap<_, _>>(),
        )
        .start_time(t("2025-01-01T00:00:00Z"))
        .end_time(t("2025-03-31T23:59:59Z"))
        .try_into()
        .expect("request");
    assert_request_matches(&built, SIMULATE_REQUEST);
}

// Proves: the simulate answer decodes results keyed by slug, errors and execution time.
#[test]
fn simulate_response_example() {
    let r: types::SimulationResult = decode_lossless(SIMULATE_RESPONSE);
    assert_eq!(r.results.get("net-carbon-removal"), Some(&Some(450.5)));
    assert_eq!(r.results.get("emissions"), Some(&Some(12.3)));
    assert!(r.errors.is_empty());
    assert_eq!(r.execution_time_ms, Some(45.2));
}

// Proves: the model runs list (no `info`) decodes calculations and output data points.
#[test]
fn model_runs_list_example() {
    let body: ListBody<types::ModelRun> = decode_lossless(MODEL_RUNS_LIST);
    assert_eq!(body.kind(), BodyKind::Page);
    assert_eq!(body.info, None);
    let run = &body.data[0];
    assert_eq!(run.id, Some(1));
    assert_eq!(run.state, Some(ModelRunState::Complete));
    let calc = &run.calculations[0];
    assert_eq!(calc.value, Some(100.5));
    assert_eq!(calc.ghg, Some(Ghg::String("co2e".into())));
    assert_eq!(calc.category.as_deref(), Some("removal"));
    let out = &run.output_data_points[0];
    assert_eq!(out.id, "dp_abc123");
    assert_eq!(out.value, Some(DataPointValue::Double(100.5)));
}

// Proves: the older `/modelruns` variant (`"ghg": true`, `in_` output id) decodes too.
#[test]
fn model_run_older_variant_with_boolean_ghg() {
    let older = MODEL_RUNS_LIST
        .replace(r#""ghg": "co2e""#, r#""ghg": true"#)
        .replace(r#""lca_role": "net""#, r#""lca_role": "output""#)
        .replace("dp_abc123", "in_abc123");
    let body: ListBody<types::ModelRun> = decode_lossless(&older);
    let run = &body.data[0];
    assert_eq!(run.calculations[0].ghg, Some(Ghg::Boolean(true)));
    assert_eq!(run.output_data_points[0].id, "in_abc123");
}

// Proves: the typed create-model-run body is `{"model_run": {start_time, end_time, data_point_ids}}`.
#[test]
fn create_model_run_request_example() {
    let built: types::ModelRunRequest = types::ModelRunRequest::builder()
        .model_run(
            types::ModelRunInput::builder()
                .start_time(t("2025-01-01T00:00:00Z"))
                .end_time(t("2025-03-31T23:59:59Z"))
                .data_point_ids(vec!["dp_abc123".to_string(), "dp_def456".to_string()]),
        )
        .try_into()
        .expect("request");
    assert_request_matches(&built, CREATE_MODEL_RUN_REQUEST);
}

// Proves: the report decodes with its allocation; the PATCH answer's `allocation: null` too.
#[test]
fn report_example() {
    let r: types::Report = decode_lossless(REPORT);
    assert_eq!(r.id, "rpt_abc123def456");
    assert_eq!(r.status, Some(ReportStatus::Complete));
    assert_eq!(r.project_id, Some(123));
    let alloc = r.allocation.expect("allocation");
    assert_eq!(alloc.amount, Some(100.5));
    assert_eq!(alloc.created_at, Some(t("2025-01-15T10:00:00Z")));
    let patched = REPORT
        .replace(r#""status": "complete""#, r#""status": "draft""#)
        .replace(
            r#""allocation": {
    "id": 1,
    "amount": 100.5,
    "unit": "t",
    "created_at": "2025-01-15T10:00:00.000Z"
  }"#,
            r#""allocation": null"#,
        );
    let p: types::Report = decode_lossless(&patched);
    assert_eq!(p.status, Some(ReportStatus::Draft));
    assert_eq!(p.allocation, None);
}

// Proves: the typed report PATCH body is `{"report": {"name", "batch_ids"}}`.
#[test]
fn report_patch_request_example() {
    let built: types::ReportRequest = types::ReportRequest::builder()
        .report(
            types::ReportInput::builder()
                .name("Updated Report Name".to_string())
                .batch_ids(vec![
                    "bat_abc123def456".to_string(),
                    "bat_xyz789".to_string(),
                ]),
        )
        .try_into()
        .expect("request");
    assert_request_matches(&built, REPORT_PATCH_REQUEST);
}

// Proves: the order decodes with its deliveries (`friendly_id`, cents, date-only strings, null expiry).
#[test]
fn order_example() {
    let o: types::Order = decode_lossless(ORDER);
    assert_eq!(o.id, 1529);
    assert_eq!(o.order_status.as_deref(), Some("COMPLETE"));
    assert_eq!(o.deal_date.as_deref(), Some("2025-01-28"));
    assert_eq!(o.expiry_date, None);
    let d = &o.deliveries[0];
    assert_eq!(d.friendly_id.as_deref(), Some("dl_H8pvrPHBQ3Dd76oL"));
    assert_eq!(d.quantity, Some(20.0));
    assert_eq!(d.price_in_cents_in_currency, Some(12000));
    assert_eq!(d.delivered_date.as_deref(), Some("2025-02-21"));
    assert_eq!(d.is_paid, Some(true));
    assert_eq!(o.created_at, Some(t("2024-05-10T15:58:21.209Z")));
}

// Proves: the exports-overview `summary_with_export` body decodes into the flat list body with its export.
#[test]
fn exports_overview_summary_with_export_example() {
    let body: ListBody<types::Project> = decode_lossless(&summary_with_export_example());
    assert_eq!(body.kind(), BodyKind::SummaryWithExport);
    assert_eq!(body.count, Some(42));
    assert_eq!(body.response_mode.as_deref(), Some("summary_with_export"));
    let export = body.export.clone().expect("export");
    assert_eq!(export.id.as_deref(), Some("exp_ABC123"));
    assert_eq!(export.status, Some(ExportStatus::Pending));
    assert_eq!(
        export.status_url.as_deref(),
        Some("https://app.gomangrove.com/api/v1/exports/exp_ABC123")
    );
    let (summary, export2) = body.into_summary().expect("a summary");
    assert_eq!(summary.count, 42);
    assert!(summary.samples.is_empty());
    assert_eq!(export2, Some(export));
}

// Proves: the completed export status of the overview decodes (`Completed`, URL, size, csv).
#[test]
fn export_status_overview_example() {
    let e: types::ExportJob = decode_lossless(EXPORT_STATUS_OVERVIEW);
    assert_eq!(e.id, "exp_ABC123");
    assert_eq!(e.status, Some(ExportStatus::Completed));
    assert!(e.status.as_ref().unwrap().is_terminal());
    assert_eq!(e.download_url.as_deref(), Some("https://..."));
    assert_eq!(e.file_size_bytes, Some(102400));
    assert_eq!(e.format, Some(ExportFormat::Csv));
}

// Proves: the GET-export page example (no `status`, `format: "<string>"`) still decodes.
#[test]
fn export_status_get_page_example() {
    let e: types::ExportJob = decode_lossless(EXPORT_STATUS_GET_PAGE);
    assert_eq!(e.id, "<string>");
    assert_eq!(e.status, None);
    assert_eq!(e.format, Some(ExportFormat::Unknown("<string>".into())));
    assert_eq!(e.file_size_bytes, Some(123));
    assert_eq!(e.created_at, Some(t("2023-11-07T05:31:56Z")));
    assert_eq!(e.completed_at, Some(t("2023-11-07T05:31:56Z")));
    assert_eq!(e.error.as_deref(), Some("<string>"));
}

// Proves: the pagination example's info block decodes (next_page 2, previous_page null).
#[test]
fn pagination_info_example() {
    let body: ListBody<types::Project> = decode_lossless(&pagination_example());
    assert_eq!(body.kind(), BodyKind::Page);
    let info = body.info.expect("info");
    assert_eq!(info.items, Some(10));
    assert_eq!(info.page_size, Some(10));
    assert_eq!(info.total_items, Some(15));
    assert_eq!(info.current_page, Some(1));
    assert_eq!(info.next_page, Some(2));
    assert_eq!(info.previous_page, None);
    assert_eq!(info.total_pages, Some(1));
}

// Proves: the documented error body decodes into the shared `ApiError`.
#[test]
fn error_body_example() {
    let e: types::ApiError = decode_lossless(ERROR_BODY);
    assert_eq!(e.message, "Record not found.");
}

// Proves: the lossless check used above is not a tautology — a field the type does not model fails it.
#[test]
fn lossless_check_detects_an_unmodelled_field() {
    let with_extra = MODEL.replacen("\"name\"", "\"colour\": \"green\",\n  \"name\"", 1);
    let outcome = std::panic::catch_unwind(|| decode_lossless::<types::Model>(&with_extra));
    assert!(
        outcome.is_err(),
        "an unknown key must make decode_lossless fail"
    );
    // ...while plain decoding tolerates it (unknown server fields never break a response).
    let m: types::Model = serde_json::from_str(&with_extra).expect("unknown keys are ignored");
    assert_eq!(m.id, "mdl_abc123def456");
}
