//! API versions, the resource map of a version, and `/limits`.

use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::response::ApiResponse;
use super::usage::ApiUsage;

/// The versions served: Winter '11 (20.0) to Summer '25 (64.0). Clients pin
/// one of these; anything else is 404 as on a real org.
const OLDEST: u32 = 20;
pub(crate) const NEWEST: u32 = 64;

/// `GET /services/data/`: every version, oldest first. Needs no session.
pub(super) async fn list() -> Response {
    let versions: Vec<Value> = (OLDEST..=NEWEST)
        .map(|major| json!({"label": release_label(major), "url": format!("/services/data/v{major}.0"), "version": format!("{major}.0")}))
        .collect();
    ApiResponse::ok(Value::Array(versions)).into_response()
}

/// `v59.0` → `59.0` when the version is served.
pub(crate) fn parse(segment: &str) -> Option<String> {
    let number = segment.strip_prefix('v')?;
    let (major, minor) = number.split_once('.')?;
    let major: u32 = major.parse().ok()?;
    (minor == "0" && (OLDEST..=NEWEST).contains(&major)).then(|| number.to_string())
}

/// Salesforce names its three releases a year Winter, Spring and Summer; 20.0
/// was Winter '11, and each release adds one to the version.
fn release_label(major: u32) -> String {
    let since = major - OLDEST;
    let season = ["Winter", "Spring", "Summer"][(since % 3) as usize];
    format!("{season} '{:02}", 11 + since / 3)
}

/// `GET /services/data/vXX.X/`.
pub(crate) fn resources(version: &str) -> ApiResponse {
    let base = format!("/services/data/v{version}");
    let names = [
        "tooling",
        "metadata",
        "eclair",
        "folders",
        "prechatForms",
        "contact-tracing",
        "jsonxform",
        "chatter",
        "tabs",
        "appMenu",
        "quickActions",
        "queryAll",
        "commerce",
        "wave",
        "iot",
        "analytics",
        "search",
        "smartdatadiscovery",
        "identity",
        "composite",
        "parameterizedSearch",
        "fingerprint",
        "theme",
        "nouns",
        "event",
        "serviceTemplates",
        "recent",
        "connect",
        "licensing",
        "limits",
        "process",
        "async-queries",
        "query",
        "match",
        "emailConnect",
        "compactLayouts",
        "knowledgeManagement",
        "sobjects",
        "actions",
        "support",
    ];
    let map: serde_json::Map<String, Value> =
        names.iter().map(|n| (n.to_string(), json!(format!("{base}/{n}")))).collect();
    ApiResponse::ok(Value::Object(map))
}

/// `GET /limits`: the daily API allowance is live; the other limits are a
/// Developer Edition org's, untouched.
pub(crate) fn limits(usage: ApiUsage, streaming: (Value, Value)) -> ApiResponse {
    let fixed = |max: u64| json!({"Max": max, "Remaining": max});
    ApiResponse::ok(json!({
        "ActiveScratchOrgs": fixed(3),
        "AnalyticsExternalDataSizeMB": fixed(40960),
        "ConcurrentAsyncGetReportInstances": fixed(200),
        "ConcurrentSyncReportRuns": fixed(20),
        "DailyAnalyticsDataflowJobExecutions": fixed(60),
        "DailyApiRequests": {"Max": usage.max, "Remaining": usage.max.saturating_sub(usage.used)},
        "DailyAsyncApexExecutions": fixed(250000),
        "DailyBulkApiBatches": fixed(15000),
        "DailyBulkV2QueryFileStorageMB": fixed(976562),
        "DailyBulkV2QueryJobs": fixed(10000),
        "DailyDurableGenericStreamingApiEvents": fixed(10000),
        "DailyDurableStreamingApiEvents": streaming.1,
        "DailyGenericStreamingApiEvents": fixed(10000),
        "DailyStandardVolumePlatformEvents": fixed(10000),
        "DailyStreamingApiEvents": fixed(10000),
        "DailyWorkflowEmails": fixed(405),
        "DataStorageMB": fixed(5),
        "DurableStreamingApiConcurrentClients": streaming.0,
        "FileStorageMB": fixed(20),
        "HourlyAsyncReportRuns": fixed(1200),
        "HourlyDashboardRefreshes": fixed(200),
        "HourlyODataCallout": fixed(10000),
        "HourlyPublishedPlatformEvents": fixed(50000),
        "HourlySyncReportRuns": fixed(500),
        "HourlyTimeBasedWorkflow": fixed(50),
        "MassEmail": fixed(10),
        "MonthlyPlatformEventsUsageEntitlement": fixed(0),
        "SingleEmail": fixed(15),
        "StreamingApiConcurrentClients": fixed(20),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_labels_follow_salesforce_naming() {
        assert_eq!(release_label(20), "Winter '11");
        assert_eq!(release_label(50), "Winter '21");
        assert_eq!(release_label(59), "Winter '24");
        assert_eq!(release_label(60), "Spring '24");
        assert_eq!(release_label(62), "Winter '25");
    }

    #[test]
    fn only_served_versions_parse() {
        assert_eq!(parse("v59.0").as_deref(), Some("59.0"));
        assert_eq!(parse("v19.0"), None);
        assert_eq!(parse("v99.0"), None);
        assert_eq!(parse("59.0"), None);
        assert_eq!(parse("v59.1"), None);
        assert_eq!(parse("v"), None);
    }
}
