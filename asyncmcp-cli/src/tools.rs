//! `asyncmcp tools`: list the tools of a queue-hosted server (`tools/list`, every
//! page): name, description and a one-line summary of the input schema; `--json`
//! prints the result for scripts.

use std::process::ExitCode;
use std::time::Duration;

use asyncmcp_tokio::ClientHandle;
use clap::Args;
use serde_json::{Value, json};

use crate::error::{CliError, CliResult};
use crate::reply::{ClientArgs, initialize, result_of};

const AFTER_HELP: &str = "\
Examples:
  asyncmcp tools --server-queue-url $QUEUE
  asyncmcp tools --transport sns-sqs --server-topic-arn $TOPIC --json | jq '.tools[].name'

Each tool is printed as its name and argument summary, then its description, indented:
  get-sum(a: number, b: number)
      Returns the sum of two numbers
Arguments without `?` are required. --json prints the tools/list result (all pages
joined into one `tools` array).";

/// The most pages of `tools/list` followed before giving up on a server whose
/// cursor never ends.
const MAX_PAGES: usize = 100;

/// The options of `asyncmcp tools`.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct ToolsArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Print the `tools/list` result as JSON (all pages in one `tools` array).
    #[arg(long)]
    json: bool,
}

/// Lists the server's tools.
pub(crate) async fn run(args: ToolsArgs) -> CliResult<ExitCode> {
    let mut stop = crate::signal::Stop::install();
    let (connection, events) = args.client.connect_or_stop("tools", &mut stop).await?;
    // Nothing the server sends besides the replies matters here.
    let drain_events = tokio::spawn(async move {
        let mut events = events;
        while events.next().await.is_some() {}
    });
    let target = args.client.server_queue_url.as_deref().or(args.client.server_topic_arn.as_deref()).unwrap_or("?");
    let (outcome, drain) = tokio::select! {
        outcome = list(&connection.handle, args.client.modern, target) => (outcome, Duration::from_secs(2)),
        signal = stop.recv() => (Err(crate::reply::stopped_by(signal)), Duration::ZERO),
    };
    connection.close(drain).await;
    drain_events.abort();
    let result = outcome?;
    let text = if args.json { format!("{result}\n") } else { render(&result) };
    crate::generate::write_stdout(text.as_bytes(), "the tools")?;
    Ok(ExitCode::SUCCESS)
}

/// `initialize` (unless `modern`), then `tools/list` page after page; returns the
/// first page's result with the tools of every page and no `nextCursor`.
async fn list(handle: &ClientHandle, modern: bool, target: &str) -> CliResult<Value> {
    let send = |method: &'static str, params: Option<Value>| async move {
        handle.call(method, params).await.map_err(|e| {
            CliError::new(format!(
                "{method}: {e}; check that `asyncmcp serve` (or another asyncmcp server) is running on {target}"
            ))
        })
    };
    let ask =
        |method: &'static str, params: Option<Value>| async move { result_of(&send(method, params).await?, method) };
    if !modern {
        initialize(handle, "asyncmcp-tools", |init| send("initialize", Some(init))).await?;
    }
    let mut first = ask("tools/list", None).await?;
    let mut tools = take_tools(&mut first);
    let mut cursor = first.as_object_mut().and_then(|o| o.remove("nextCursor"));
    let mut pages = 1;
    while let Some(next) = cursor.take().filter(|c| !c.is_null()) {
        if pages >= MAX_PAGES {
            return Err(CliError::new(format!("tools/list: the server gave more than {MAX_PAGES} pages")));
        }
        let mut page = ask("tools/list", Some(json!({ "cursor": next }))).await?;
        tools.extend(take_tools(&mut page));
        cursor = page.as_object_mut().and_then(|o| o.remove("nextCursor"));
        pages += 1;
    }
    if let Some(object) = first.as_object_mut() {
        object.insert("tools".to_owned(), Value::Array(tools));
    }
    Ok(first)
}

fn take_tools(result: &mut Value) -> Vec<Value> {
    match result.get_mut("tools").map(Value::take) {
        Some(Value::Array(tools)) => tools,
        _ => Vec::new(),
    }
}

/// The tools as text: `name(args)` then the description's lines, indented.
fn render(result: &Value) -> String {
    let tools = result.get("tools").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    if tools.is_empty() {
        return "(the server has no tools)\n".to_owned();
    }
    let mut out = String::new();
    for tool in tools {
        let name = tool.get("name").and_then(Value::as_str).unwrap_or("?");
        out.push_str(&format!("{name}({})\n", schema_summary(tool.get("inputSchema"))));
        let description = tool.get("description").and_then(Value::as_str).unwrap_or("").trim();
        for line in description.lines().map(str::trim).filter(|l| !l.is_empty()) {
            out.push_str(&format!("    {line}\n"));
        }
    }
    out
}

/// `a: number, b?: string`: the properties of an object schema, required ones first,
/// `?` after an optional one.
fn schema_summary(schema: Option<&Value>) -> String {
    let Some(properties) = schema.and_then(|s| s.get("properties")).and_then(Value::as_object) else {
        return String::new();
    };
    let required: Vec<&str> = schema
        .and_then(|s| s.get("required"))
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    // Required arguments first, in the schema's `required` order; then the others.
    let first = required.iter().filter_map(|name| properties.get_key_value(*name)).map(|(n, p)| (n, p, ""));
    let rest = properties.iter().filter(|(name, _)| !required.contains(&name.as_str())).map(|(n, p)| (n, p, "?"));
    first
        .chain(rest)
        .map(|(name, property, mark)| format!("{name}{mark}: {}", type_of(property)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A JSON Schema's type in a few characters: `string`, `number[]`, `a|b`, `enum`.
fn type_of(schema: &Value) -> String {
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let names: Vec<String> = values.iter().map(Value::to_string).collect();
        return names.join("|");
    }
    match schema.get("type") {
        Some(Value::String(t)) if t == "array" => {
            let item = schema.get("items").map(type_of).unwrap_or_else(|| "any".to_owned());
            if item.contains('|') { format!("({item})[]") } else { format!("{item}[]") }
        }
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(types)) => types.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("|"),
        _ => {
            let alternatives = schema.get("anyOf").or_else(|| schema.get("oneOf")).and_then(Value::as_array);
            match alternatives {
                Some(list) => list.iter().map(type_of).collect::<Vec<_>>().join("|"),
                None => "any".to_owned(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_summary_marks_optional_arguments_and_reads_types() {
        let schema = json!({
            "type": "object",
            "properties": {
                "a": {"type": "number"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "mode": {"enum": ["fast", "slow"]},
                "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                "free": {}
            },
            "required": ["a", "mode"]
        });
        assert_eq!(
            schema_summary(Some(&schema)),
            "a: number, mode: \"fast\"|\"slow\", free?: any, note?: string|null, tags?: string[]"
        );
        assert_eq!(schema_summary(Some(&json!({"type": "object"}))), "");
        assert_eq!(schema_summary(None), "");
    }

    #[test]
    fn render_prints_name_arguments_and_description() {
        let result = json!({"tools": [
            {"name": "get-sum", "description": "Returns the sum\n of two numbers",
             "inputSchema": {"type": "object", "properties": {"a": {"type": "number"}}, "required": ["a"]}},
            {"name": "ping", "inputSchema": {"type": "object"}}
        ]});
        assert_eq!(render(&result), "get-sum(a: number)\n    Returns the sum\n    of two numbers\nping()\n");
        assert_eq!(render(&json!({"tools": []})), "(the server has no tools)\n");
    }
}
