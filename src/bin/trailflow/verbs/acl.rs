//! `trailflow acl`: one Network ACL or security group: rules at a moment, a change's diff, a path check, its history.

use std::io::Write;
use std::process::ExitCode;

use clap::Subcommand;
use trailflow::output::{Format, Sink};

use super::App;
use crate::cli::{OutputArgs, parse_time_arg};
use crate::write::{open_output, stream_query, write_batch};
use crate::{EXIT_REJECTED, runtime};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub cmd: AclCmd,
}

#[derive(Subcommand)]
pub enum AclCmd {
    /// The ACL's rules as they stood (now, or --at a time), each with where it was learned.
    Show {
        /// The ACL id (acl-...), or a security group id (sg-...).
        acl: String,
        /// The moment (2026-03-10T14:07:00Z); default: the latest the evidence shows.
        #[arg(long, value_parser = parse_time_arg)]
        at: Option<i64>,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// What one change (its CloudTrail event id) opened and closed, and the rules before and after.
    Diff {
        /// The event id of the change (nacl_changes.event_id).
        event_id: String,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Would a packet have passed: the ACL's deciding rule and the security-group rule that allows it (or that none does).
    Check {
        /// The ACL id (acl-...); default: the ACL of the subnet of the interface the packet reaches.
        #[arg(long)]
        acl: Option<String>,
        /// The interface (eni-...); default: the one that held the packet's near address at the moment.
        #[arg(long)]
        interface: Option<String>,
        /// The moment (default: the latest rules the evidence shows).
        #[arg(long, value_parser = parse_time_arg)]
        at: Option<i64>,
        /// The packet: "ingress tcp 203.0.113.5 -> 10.0.1.7:22" (egress: "egress udp 10.0.1.7 -> 8.8.8.8:53").
        #[arg(long)]
        flow: trailflow::correlate::acl::Packet,
    },
    /// Every change of the ACL in time order, with what each opened and closed.
    History {
        /// The ACL id (acl-...), or a security group id (sg-...).
        acl: String,
        #[command(flatten)]
        out: OutputArgs,
    },
}

pub fn run(app: &App, Args { cmd }: Args) -> anyhow::Result<ExitCode> {
    use trailflow::correlate::acl;
    let lake = app.open_lake()?;
    // `acl check`'s answer, for the exit status, as grep's: 0 allowed, 1 denied; 3 when nothing
    // recorded says what a rule that comes first was (2 is a usage error, as everywhere).
    let allowed = std::cell::Cell::new(None::<Option<bool>>);
    runtime()?.block_on(async {
        let ctx = trailflow::session::session(Some(&lake), &app.session_opts()).await?;
        match cmd {
            AclCmd::Show { acl: id, at, out } if id.starts_with("sg-") => {
                let format = out.format()?;
                require_group(&ctx, &id).await?;
                stream_query(&ctx, &acl::sg_rules_sql(&id, at), format, out.output.as_deref(), out.screen()).await
            }
            AclCmd::History { acl: id, out } if id.starts_with("sg-") => {
                let format = out.format()?;
                require_group(&ctx, &id).await?;
                stream_query(&ctx, &acl::sg_history_sql(&id), format, out.output.as_deref(), out.screen()).await
            }
            AclCmd::Show { acl: id, at, out } => {
                let format = out.format()?;
                let rules = acl::rules(&ctx, &id, at).await?;
                if format == Format::Table && out.output.is_none() {
                    let when =
                        at.map(trailflow::time::fmt_time).unwrap_or_else(|| "the latest the evidence shows".into());
                    outln!("{id} at {when}");
                }
                write_batch(&acl::rules_batch(&rules)?, format, out.output.as_deref())
            }
            AclCmd::Diff { event_id, out } => {
                let format = out.format()?;
                let d = acl::diff(&ctx, &event_id).await?;
                match format {
                    Format::Table => {
                        let mut text = String::new();
                        for (k, v) in &d.header {
                            text.push_str(&format!("{k:<9}{v}\n"));
                        }
                        text.push_str(&format!(
                            "{:<9}{}\n",
                            "opened",
                            d.opened.as_deref().unwrap_or("not known (the rules after it are not in the evidence)")
                        ));
                        text.push_str(&format!("{:<9}{}\n", "closed", d.closed.as_deref().unwrap_or("not known")));
                        match &out.output {
                            Some(path) => {
                                let mut w = open_output(Some(path))?;
                                w.write_all(text.as_bytes())?;
                                let mut sink = Sink::new(format, d.rules.schema(), w)?;
                                sink.write(&d.rules)?;
                                sink.finish()?;
                            }
                            None => {
                                out!("{text}");
                                write_batch(&d.rules, format, None)?;
                            }
                        }
                        Ok(())
                    }
                    Format::Json => {
                        let rules = trailflow::output::batch_json(&d.rules)?;
                        let mut obj = serde_json::Map::new();
                        for (k, v) in &d.header {
                            obj.insert((*k).into(), serde_json::Value::String(v.clone()));
                        }
                        obj.insert("event_id".into(), event_id.clone().into());
                        obj.insert("opened".into(), d.opened.clone().into());
                        obj.insert("closed".into(), d.closed.clone().into());
                        obj.insert("rules".into(), rules);
                        let mut w = open_output(out.output.as_deref())?;
                        writeln!(w, "{}", serde_json::to_string_pretty(&obj)?)?;
                        w.flush()?;
                        Ok(())
                    }
                    // The other formats carry the rules side by side.
                    _ => write_batch(&d.rules, format, out.output.as_deref()),
                }
            }
            AclCmd::Check { acl: id, interface, at, flow } => {
                use trailflow::correlate::path;
                let when = at.map(trailflow::time::fmt_time).unwrap_or_else(|| "the latest rules".into());
                let interface = match interface {
                    Some(i) => Some(i),
                    None => path::interface_of(&ctx, flow.local, at).await?,
                };
                let id = match (id, &interface) {
                    (Some(id), _) => id,
                    (None, Some(i)) => path::acl_of(&ctx, i, at).await?.ok_or_else(|| {
                        trailflow::error::Error::Usage(format!(
                            "the evidence does not show which ACL governed {i}'s subnet then: name it with --acl"
                        ))
                    })?,
                    (None, None) => {
                        return Err(trailflow::error::Error::Usage(format!(
                            "no interface held {} then in the evidence: name the ACL with --acl (or the interface with --interface)",
                            flow.local
                        ))
                        .into());
                    }
                };
                outln!("{id} at {when}");
                let (lines, decision) = acl::check(&ctx, &id, at, &flow).await?;
                for line in lines {
                    outln!("{line}");
                }
                // The second layer: the interface's security groups, when the evidence shows them.
                let groups = match &interface {
                    Some(i) => path::groups_check(&ctx, i, at, &flow).await?,
                    None => None,
                };
                let decision = match (&interface, groups) {
                    (Some(_), Some((lines, sg))) => {
                        for line in lines {
                            outln!("{line}");
                        }
                        let both = match (decision, sg) {
                            (Some(false), _) | (_, Some(false)) => Some(false),
                            (Some(true), Some(true)) => Some(true),
                            _ => None,
                        };
                        outln!(
                            "path: {}",
                            match both {
                                Some(true) => "allowed: both layers let it through",
                                Some(false) => "denied",
                                None => "unknown",
                            }
                        );
                        both
                    }
                    (Some(i), None) => {
                        outln!("security groups: the evidence does not show {i}'s groups then; the ACL's answer stands alone");
                        decision
                    }
                    (None, _) => {
                        outln!("security groups: no interface held {} then in the evidence; not checked", flow.local);
                        decision
                    }
                };
                allowed.set(Some(decision));
                Ok(())
            }
            AclCmd::History { acl: id, out } => {
                let format = out.format()?;
                acl::require_acl(&ctx, &id).await?;
                stream_query(&ctx, &acl::history_sql(&id), format, out.output.as_deref(), out.screen()).await
            }
        }
    })?;
    Ok(match allowed.get() {
        None | Some(Some(true)) => ExitCode::SUCCESS,
        Some(Some(false)) => ExitCode::from(1),
        Some(None) => ExitCode::from(EXIT_REJECTED),
    })
}

/// Is the security group one the evidence shows?
async fn require_group(ctx: &datafusion::prelude::SessionContext, group: &str) -> anyhow::Result<()> {
    let sql = format!(
        "SELECT count(*) FROM (SELECT group_id FROM sg_rules WHERE group_id = '{g}' \
         UNION ALL SELECT group_id FROM sg_changes WHERE group_id = '{g}' \
         UNION ALL SELECT group_id FROM interface_groups WHERE group_id = '{g}')",
        g = group.replace('\'', "''")
    );
    let n = trailflow::query::query(ctx, &sql)
        .await?
        .first()
        .map(|b| {
            datafusion::arrow::array::AsArray::as_primitive::<datafusion::arrow::datatypes::Int64Type>(b.column(0))
                .value(0)
        })
        .unwrap_or(0);
    if n == 0 {
        return Err(trailflow::error::Error::Usage(format!("no security group {group} in the evidence")).into());
    }
    Ok(())
}
