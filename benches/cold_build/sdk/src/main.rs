//! What a new user writes: export every project as CSV to a file with `mangrove`.

use mangrove::prelude::*;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env()?;
    let (summary, export) = client.list_projects().summary_with_export().send().await?;
    println!("{} projects; exporting", summary.count);
    let completed = export.await?;
    let file = completed.download_to("projects.csv").await?;
    println!("{} bytes in projects.csv", file.bytes);
    Ok(())
}
