//! `shiji import products` / `shiji export products`: a shop's catalogue to
//! and from CSV or JSON files (INT-1), as the operator.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};

use shiji::caller::Caller;
use shiji::catalogue::transfer::{self, FileFormat, ImportError};
use shiji::config::Config;
use shiji::server;

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import products into a shop from a .csv or .json file: all rows or none.
    Products {
        file: PathBuf,
        /// The shop (merchant id); its market is the products' market.
        #[arg(long)]
        merchant: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// Export a shop's products in the import format.
    Products {
        #[arg(long)]
        merchant: String,
        /// csv or json
        #[arg(long, default_value = "csv")]
        format: String,
        /// Where to write; standard output if omitted.
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

pub async fn import(command: ImportCommand, config: Config) -> anyhow::Result<()> {
    let ImportCommand::Products { file, merchant } = command;
    let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
    let format = FileFormat::of_name(&file.to_string_lossy());
    let file_rows = transfer::parse(format, &bytes);
    let store = server::open_store(&config).await?;
    let services = server::build_services(&config, store.clone()).await?;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} products")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message("checking");
    let progress = |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    let outcome = services
        .catalogue
        .import_products(&Caller::operator(), &merchant, file_rows, &progress)
        .await;
    bar.finish_and_clear();
    store.close().await;
    match outcome {
        Ok(done) => {
            println!(
                "imported {} products ({} variants) from {}",
                done.products,
                done.variants,
                file.display()
            );
            Ok(())
        }
        Err(ImportError::Rows(problems)) => Err(report(problems)),
        Err(ImportError::Service(e)) => Err(anyhow::anyhow!("import refused: {e:?}")),
    }
}

fn report(problems: Vec<transfer::RowProblem>) -> anyhow::Error {
    let lines: Vec<String> = problems
        .iter()
        .map(|p| format!("  line {}: {}", p.line, p.reason))
        .collect();
    anyhow::anyhow!(
        "nothing imported: {} bad rows\n{}",
        problems.len(),
        lines.join("\n")
    )
}

pub async fn export(command: ExportCommand, config: Config) -> anyhow::Result<()> {
    let ExportCommand::Products {
        merchant,
        format,
        output,
    } = command;
    let format = match format.as_str() {
        "csv" => FileFormat::Csv,
        "json" => FileFormat::Json,
        other => anyhow::bail!("--format {other}: use csv or json"),
    };
    let store = server::open_store(&config).await?;
    let services = server::build_services(&config, store.clone()).await?;
    let lines = services
        .catalogue
        .export_products(&Caller::operator(), &merchant)
        .await
        .map_err(|e| anyhow::anyhow!("export refused: {e:?}"))?;
    store.close().await;
    let bytes = transfer::render(format, &lines).map_err(anyhow::Error::msg)?;
    match output {
        Some(path) => {
            std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("exported {} rows to {}", lines.len(), path.display());
        }
        None => {
            use std::io::Write as _;
            std::io::stdout().write_all(&bytes)?;
        }
    }
    Ok(())
}
