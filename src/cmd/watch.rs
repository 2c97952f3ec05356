//! `mediamill watch BATCH_OR_MEDIA_ID [--url URL --key KEY] [--json]`: follows a batch or one item over the
//! server's event stream until it is done, then prints how each item ended. Exits non-zero when any failed.

use crate::client::api::Server;
use crate::client::report::Summary;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A batch id or a media id.
    id: String,
    #[command(flatten)]
    target: super::upload::Target,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let server = Server::new(&args.target.url, &args.target.key)?;
    let multi = super::upload::bars(args.target.json);
    let mut summary = Summary { server: server.url.clone(), ..Default::default() };
    let is_batch = server
        .request(reqwest::Method::GET, &format!("/v1/batches/{}?limit=1", args.id))
        .send()
        .await?
        .status()
        .is_success();
    summary.outcomes = Some(if is_batch {
        summary.batch_id = Some(args.id.clone());
        super::upload::follow_batch(&server, &multi, &args.id).await?
    } else {
        vec![super::upload::follow_media(&server, &multi, &args.id).await?]
    });
    summary.print(args.target.json);
    super::upload::finish(&summary)
}
