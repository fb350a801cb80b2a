//! Runs the fake upstream APIs on one port until killed; prints `listening on ADDR` first.

use clap::Parser;

#[derive(Parser)]
#[command(about = "Fake GitHub, Stripe, HubSpot, Gong and Linear APIs for tests")]
struct Args {
    /// Address to bind; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0", env = "FAKE_UPSTREAM_BIND")]
    bind: String,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let fake = fake_upstream::FakeUpstream::start_on(&args.bind).await?;
    println!("listening on {}", fake.addr);
    tokio::signal::ctrl_c().await?;
    Ok(())
}
