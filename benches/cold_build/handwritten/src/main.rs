//! Export every project as CSV to a file, by hand: `GET /projects?response_mode=summary_with_export`,
//! poll the export's `status_url`, stream the `download_url` to a temporary file, rename it.

use std::time::Duration;

use futures::StreamExt as _;
use serde::Deserialize;
use tokio::io::AsyncWriteExt as _;

#[derive(Deserialize)]
struct Summary {
    count: u64,
    export: Option<ExportStatus>,
}

#[derive(Deserialize)]
struct ExportStatus {
    id: String,
    status: Option<String>,
    status_url: Option<String>,
    download_url: Option<String>,
    error: Option<String>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let token = std::env::var("MANGROVE_API_TOKEN")?;
    let base = std::env::var("MANGROVE_BASE_URL")
        .unwrap_or_else(|_| "https://app.gomangrove.com/api/v1".into());
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()?;

    let summary: Summary = http
        .get(format!("{base}/projects"))
        .bearer_auth(&token)
        .query(&[("response_mode", "summary_with_export"), ("export_format", "csv")])
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    println!("{} projects; exporting", summary.count);
    let mut export = summary.export.ok_or("no export in the answer")?;

    let mut wait = Duration::from_secs(1);
    let download_url = loop {
        match export.status.as_deref() {
            Some("completed") => break export.download_url.ok_or("completed without a URL")?,
            Some("failed") => return Err(export.error.unwrap_or_default().into()),
            _ => {}
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(30));
        let url = export
            .status_url
            .clone()
            .unwrap_or_else(|| format!("{base}/exports/{}", export.id));
        export = http
            .get(url)
            .bearer_auth(&token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
    };

    let response = http.get(download_url).send().await?.error_for_status()?;
    let mut file = tokio::fs::File::create("projects.csv.part").await?;
    let mut bytes = 0;
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        bytes += chunk.len();
        file.write_all(&chunk).await?;
    }
    file.sync_all().await?;
    tokio::fs::rename("projects.csv.part", "projects.csv").await?;
    println!("{bytes} bytes in projects.csv");
    Ok(())
}
