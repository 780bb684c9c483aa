//! `berth network …`: create, ls, inspect, rm, connect, disconnect, prune.

use std::io::Write;
use std::net::Ipv4Addr;

use clap::{Args, Subcommand};
use serde_json::{json, Map, Value as Json};

use super::{confirm, Ctx, StatusError};
use crate::client::{escape_path, Client, Request};
use crate::commands::inspect::inspect_each;
use crate::commands::volume::list::natural_cmp;
use crate::filters::Filters;
use crate::format::rows::network;
use crate::format::{render_list, RAW_KEY, TABLE_KEY};

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum NetworkCommand {
    /// Connect a container to a network
    Connect(ConnectArgs),
    /// Create a network
    Create(CreateArgs),
    /// Disconnect a container from a network
    Disconnect(DisconnectArgs),
    /// Display detailed information on one or more networks
    Inspect(InspectArgs),
    /// List networks
    #[command(visible_alias = "list")]
    Ls(ListArgs),
    /// Remove all unused networks
    Prune(PruneArgs),
    /// Remove one or more networks
    #[command(visible_alias = "remove")]
    Rm(RemoveArgs),
}

pub async fn dispatch(command: NetworkCommand, ctx: &mut Ctx) -> anyhow::Result<()> {
    match command {
        NetworkCommand::Connect(a) => connect(ctx, a).await,
        NetworkCommand::Create(a) => create(ctx, a).await,
        NetworkCommand::Disconnect(a) => disconnect(ctx, a).await,
        NetworkCommand::Inspect(a) => inspect(ctx, a).await,
        NetworkCommand::Ls(a) => list(ctx, a).await,
        NetworkCommand::Prune(a) => prune(ctx, a).await,
        NetworkCommand::Rm(a) => remove(ctx, a).await,
    }
}

#[derive(Debug, Clone, Args)]
pub struct CreateArgs {
    /// Enable manual container attachment
    #[arg(long)]
    pub attachable: bool,
    /// Auxiliary IPv4 or IPv6 addresses used by Network driver
    #[arg(long = "aux-address", value_name = "map", hide = true)]
    pub aux_address: Vec<String>,
    /// Driver to manage the Network
    #[arg(short = 'd', long, default_value = "bridge", value_name = "string")]
    pub driver: String,
    /// IPv4 or IPv6 Gateway for the master subnet
    #[arg(long, value_name = "strings")]
    pub gateway: Vec<String>,
    /// Restrict external access to the network
    #[arg(long)]
    pub internal: bool,
    /// Allocate container ip from a sub-range
    #[arg(long = "ip-range", value_name = "strings")]
    pub ip_range: Vec<String>,
    /// IP Address Management Driver
    #[arg(long = "ipam-driver", default_value = "default", value_name = "string")]
    pub ipam_driver: String,
    /// Enable IPv6 networking
    #[arg(long)]
    pub ipv6: bool,
    /// Set metadata on a network
    #[arg(long, value_name = "list")]
    pub label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt", value_name = "map")]
    pub opt: Vec<String>,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long, value_name = "strings")]
    pub subnet: Vec<String>,
    #[arg(value_name = "NETWORK")]
    pub name: String,
}

fn kv(values: &[String]) -> Map<String, Json> {
    values
        .iter()
        .map(|v| match v.split_once('=') {
            Some((k, val)) => (k.to_string(), json!(val)),
            None => (v.clone(), json!("")),
        })
        .collect()
}

fn subnet_contains(subnet: &str, ip: &str) -> Result<bool, String> {
    let (net, prefix) = subnet
        .split_once('/')
        .ok_or_else(|| format!("invalid CIDR address: {subnet}"))?;
    let net: Ipv4Addr = net
        .parse()
        .map_err(|_| format!("invalid CIDR address: {subnet}"))?;
    let prefix: u32 = prefix
        .parse()
        .ok()
        .filter(|p| *p <= 32)
        .ok_or_else(|| format!("invalid CIDR address: {subnet}"))?;
    let ip: Ipv4Addr = ip
        .split('/')
        .next()
        .unwrap_or("")
        .parse()
        .map_err(|_| format!("invalid address: {ip}"))?;
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    Ok(u32::from(ip) & mask == u32::from(net) & mask)
}

/// Docker's `consolidateIpam`: each gateway and ip-range goes with the subnet holding it.
pub fn ipam_configs(
    subnets: &[String],
    gateways: &[String],
    ranges: &[String],
) -> Result<Vec<Json>, String> {
    if subnets.is_empty() {
        if !gateways.is_empty() || !ranges.is_empty() {
            return Err("every ip-range or gateway must have a corresponding subnet".into());
        }
        return Ok(Vec::new());
    }
    let mut out: Vec<Map<String, Json>> = subnets
        .iter()
        .map(|s| {
            let mut m = Map::new();
            m.insert("Subnet".into(), json!(s));
            m
        })
        .collect();
    for (key, values, what) in [
        ("IPRange", ranges, "range"),
        ("Gateway", gateways, "gateway"),
    ] {
        for v in values {
            let mut matched = false;
            for (i, s) in subnets.iter().enumerate() {
                if subnet_contains(s, v)? {
                    if out[i].contains_key(key) {
                        return Err(format!(
                            "cannot configure multiple {what}s ({v}, {}) on the same subnet ({s})",
                            out[i][key].as_str().unwrap_or("")
                        ));
                    }
                    out[i].insert(key.into(), json!(v));
                    matched = true;
                }
            }
            if !matched {
                return Err(format!("no matching subnet for {what} {v}"));
            }
        }
    }
    Ok(out.into_iter().map(Json::Object).collect())
}

/// The body of `POST /networks/create`.
pub fn create_body(args: &CreateArgs) -> anyhow::Result<Json> {
    let config = ipam_configs(&args.subnet, &args.gateway, &args.ip_range)
        .map_err(|e| StatusError::new(1, e))?;
    Ok(json!({
        "Name": args.name,
        "CheckDuplicate": true,
        "Driver": args.driver,
        "Internal": args.internal,
        "Attachable": args.attachable,
        "EnableIPv6": args.ipv6,
        "Options": kv(&args.opt),
        "Labels": kv(&args.label),
        "IPAM": {"Driver": args.ipam_driver, "Config": config, "Options": {}},
    }))
}

async fn create(ctx: &mut Ctx, args: CreateArgs) -> anyhow::Result<()> {
    let body = create_body(&args)?;
    let resp = ctx
        .client
        .json(Request::post("/networks/create").json_body(&body))
        .await?;
    writeln!(
        ctx.streams.out,
        "{}",
        resp.get("Id").and_then(Json::as_str).unwrap_or("")
    )?;
    Ok(())
}

#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Provide filter values (e.g. 'driver=bridge')
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Pretty-print networks using a Go template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// Do not truncate the output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only display network IDs
    #[arg(short, long)]
    pub quiet: bool,
}

fn list_format(source: &str, quiet: bool) -> String {
    match source {
        "" | TABLE_KEY if quiet => "{{.ID}}".to_string(),
        "" | TABLE_KEY => network::DEFAULT_TABLE.to_string(),
        RAW_KEY if quiet => "network_id: {{.ID}}".to_string(),
        RAW_KEY => "network_id: {{.ID}}\nname: {{.Name}}\ndriver: {{.Driver}}\nscope: {{.Scope}}\n"
            .to_string(),
        custom => custom.to_string(),
    }
}

/// Renders `network ls` for an API list response (sorted by name, as Docker).
pub fn render_networks(
    resp: &Json,
    format: &str,
    quiet: bool,
    trunc: bool,
) -> Result<String, crate::format::FormatError> {
    let mut nets: Vec<&Json> = resp
        .as_array()
        .map(|v| v.iter().collect())
        .unwrap_or_default();
    nets.sort_by(|a, b| {
        natural_cmp(
            a.get("Name").and_then(Json::as_str).unwrap_or(""),
            b.get("Name").and_then(Json::as_str).unwrap_or(""),
        )
    });
    let rows: Vec<_> = nets.into_iter().map(|n| network::row(n, trunc)).collect();
    render_list(&list_format(format, quiet), &network::header(), &rows)
}

async fn list(ctx: &mut Ctx, args: ListArgs) -> anyhow::Result<()> {
    let filters = Filters::parse(&args.filter)?;
    let resp = ctx
        .client
        .json(filters.apply(Request::get("/networks")))
        .await?;
    let out = render_networks(
        &resp,
        args.format.as_deref().unwrap_or(""),
        args.quiet,
        !args.no_trunc,
    )?;
    ctx.streams.out.write_all(out.as_bytes())?;
    Ok(())
}

#[derive(Debug, Clone, Args)]
pub struct InspectArgs {
    /// Format the output using the given Go template
    #[arg(short, long, value_name = "string")]
    pub format: Option<String>,
    /// Verbose output for diagnostics
    #[arg(short, long)]
    pub verbose: bool,
    #[arg(required = true, value_name = "NETWORK")]
    pub networks: Vec<String>,
}

/// GET /networks/{id} as raw text; a 404 reads "Error: No such network: NAME".
pub async fn fetch_network(client: Client, name: String) -> Result<String, String> {
    match client
        .bytes(Request::get(format!("/networks/{}", escape_path(&name))))
        .await
    {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) if e.is_not_found() => Err(format!("Error: No such network: {name}")),
        Err(e) => Err(e.to_string()),
    }
}

async fn inspect(ctx: &mut Ctx, args: InspectArgs) -> anyhow::Result<()> {
    inspect_each(ctx, &args.networks, args.format.as_deref(), fetch_network).await
}

#[derive(Debug, Clone, Args)]
pub struct RemoveArgs {
    #[arg(required = true, value_name = "NETWORK")]
    pub networks: Vec<String>,
}

async fn remove(ctx: &mut Ctx, args: RemoveArgs) -> anyhow::Result<()> {
    let mut errors = Vec::new();
    for name in &args.networks {
        match ctx
            .client
            .send(Request::delete(format!("/networks/{}", escape_path(name))))
            .await
        {
            Ok(_) => {
                writeln!(ctx.streams.out, "{name}")?;
                ctx.streams.out.flush()?;
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(StatusError::new(1, errors.join("\n")).into())
    }
}

#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    /// Add network-scoped alias for the container
    #[arg(long, value_name = "strings")]
    pub alias: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long, value_name = "string")]
    pub ip: Option<String>,
    #[arg(value_name = "NETWORK")]
    pub network: String,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

async fn connect(ctx: &mut Ctx, args: ConnectArgs) -> anyhow::Result<()> {
    let mut endpoint = json!({"Aliases": args.alias});
    if let Some(ip) = &args.ip {
        endpoint["IPAMConfig"] = json!({"IPv4Address": ip});
    }
    let body = json!({"Container": args.container, "EndpointConfig": endpoint});
    ctx.client
        .send(
            Request::post(format!("/networks/{}/connect", escape_path(&args.network)))
                .json_body(&body),
        )
        .await?;
    Ok(())
}

#[derive(Debug, Clone, Args)]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short, long)]
    pub force: bool,
    #[arg(value_name = "NETWORK")]
    pub network: String,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

async fn disconnect(ctx: &mut Ctx, args: DisconnectArgs) -> anyhow::Result<()> {
    let body = json!({"Container": args.container, "Force": args.force});
    ctx.client
        .send(
            Request::post(format!(
                "/networks/{}/disconnect",
                escape_path(&args.network)
            ))
            .json_body(&body),
        )
        .await?;
    Ok(())
}

#[derive(Debug, Clone, Args)]
pub struct PruneArgs {
    /// Provide filter values (e.g. 'until=<timestamp>')
    #[arg(long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
}

const PRUNE_WARNING: &str = "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?";

async fn prune(ctx: &mut Ctx, args: PruneArgs) -> anyhow::Result<()> {
    let filters = Filters::parse(&args.filter)?;
    if !args.force && !confirm(ctx, PRUNE_WARNING)? {
        return Ok(());
    }
    let report = ctx
        .client
        .json(filters.apply(Request::post("/networks/prune")))
        .await?;
    let deleted = report
        .get("NetworksDeleted")
        .and_then(Json::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if !deleted.is_empty() {
        let mut out = String::from("Deleted Networks:\n");
        for n in deleted {
            out.push_str(n.as_str().unwrap_or(""));
            out.push('\n');
        }
        ctx.streams.out.write_all(out.as_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn gateways_and_ranges_pair_with_their_subnet() {
        let c = ipam_configs(
            &strings(&["10.1.0.0/16", "10.2.0.0/16"]),
            &strings(&["10.2.0.254"]),
            &strings(&["10.1.4.0/24"]),
        )
        .unwrap();
        assert_eq!(
            c[0],
            json!({"Subnet": "10.1.0.0/16", "IPRange": "10.1.4.0/24"})
        );
        assert_eq!(
            c[1],
            json!({"Subnet": "10.2.0.0/16", "Gateway": "10.2.0.254"})
        );
        assert_eq!(
            ipam_configs(&[], &strings(&["10.0.0.1"]), &[]).unwrap_err(),
            "every ip-range or gateway must have a corresponding subnet"
        );
        assert_eq!(
            ipam_configs(&strings(&["10.1.0.0/16"]), &strings(&["10.9.0.1"]), &[]).unwrap_err(),
            "no matching subnet for gateway 10.9.0.1"
        );
        assert!(ipam_configs(
            &strings(&["10.1.0.0/16"]),
            &strings(&["10.1.0.1", "10.1.0.2"]),
            &[]
        )
        .unwrap_err()
        .contains("cannot configure multiple gateways"));
    }

    #[test]
    fn table_sorted_by_name_with_short_ids() {
        let resp = json!([
            {"Name": "zeta", "Id": "b".repeat(64), "Driver": "bridge", "Scope": "local"},
            {"Name": "alpha", "Id": "a".repeat(64), "Driver": "null", "Scope": "local"},
        ]);
        let out = render_networks(&resp, "", false, true).unwrap();
        assert_eq!(
            out,
            format!(
                "NETWORK ID     NAME      DRIVER    SCOPE\n{}   alpha     null      local\n{}   zeta      bridge    local\n",
                "a".repeat(12),
                "b".repeat(12)
            )
        );
        assert_eq!(
            render_networks(&resp, "", true, false).unwrap(),
            format!("{}\n{}\n", "a".repeat(64), "b".repeat(64))
        );
    }
}
