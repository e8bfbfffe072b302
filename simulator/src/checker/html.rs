//! A self-contained page that shows a history and the checker's verdict on it: per partition,
//! one row per client with operations as boxes on a time axis, and the linearization (or, for an
//! illegal history, the longest linearizable prefix and the operations that cannot follow it).
//!
//! The page needs no network: styles, pictures (SVG) and the small script are inline.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use super::history::{ClientId, History, OperationId, Outcome};
use super::model::Model;
use super::partition::group_by_partition;
use super::{CheckResult, IllegalWitness};

/// Width in pixels of one step of the time axis; times are replaced by their rank among all
/// invocation and return times, so that long idle gaps do not squeeze the picture.
const TIME_STEP_WIDTH: f64 = 22.0;
const ROW_HEIGHT: f64 = 26.0;
const BOX_HEIGHT: f64 = 18.0;
const LEFT_MARGIN: f64 = 90.0;
const TOP_MARGIN: f64 = 24.0;
/// Approximate width of one label character (11px monospace); labels are cut to fit their box,
/// and the tooltip has the whole text.
const LABEL_CHARACTER_WIDTH: f64 = 6.7;

/// The part an operation plays in the verdict, which decides its colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// In the linearization or the witness prefix, at this position (from 1).
    Ordered(usize),
    /// The operation whose return forces it next, and that cannot follow the prefix.
    Breaking,
    /// Another pending operation that cannot follow the prefix either.
    Blocked,
    /// Took no part: failed, never took effect, or outside the witness.
    Other,
}

/// Renders the page for `history` checked against `model` with verdict `result`.
pub fn render<M: Model>(
    history: &History<M::Input, M::Output>,
    model: &M,
    result: &CheckResult,
    title: &str,
) -> String {
    let partitions = group_by_partition(history, model);
    let mut page = String::new();
    page.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    let _ = writeln!(page, "<title>{}</title>", escape(title));
    page.push_str(STYLE);
    page.push_str("</head>\n<body>\n");
    let _ = writeln!(page, "<h1>{}</h1>", escape(title));
    page.push_str(&summary(history, result, partitions.len()));
    page.push_str(LEGEND);
    // The illegal partition first, open; the rest after it.
    let failing = match result {
        CheckResult::Illegal { witness } => Some(witness.partition.clone()),
        CheckResult::Linearizable { .. } | CheckResult::Unknown { .. } => None,
    };
    let mut ordered: Vec<(&Option<String>, &Vec<OperationId>)> = partitions.iter().collect();
    ordered.sort_by_key(|(key, _)| Some(*key) != failing.as_ref());
    for (key, members) in ordered {
        let partition = Partition {
            key,
            members,
            roles: roles(result, key, members),
            axis: TimeAxis::new(history, members),
            open: failing.is_none() || Some(key) == failing.as_ref() || partitions.len() == 1,
        };
        page.push_str(&partition_section(history, model, &partition, result));
    }
    page.push_str(SCRIPT);
    page.push_str("</body>\n</html>\n");
    page
}

fn summary<I, O>(history: &History<I, O>, result: &CheckResult, partition_count: usize) -> String {
    let clients: BTreeSet<ClientId> = history
        .operations()
        .iter()
        .map(|operation| operation.client)
        .collect();
    let (class, verdict) = match result {
        CheckResult::Linearizable { .. } => ("linearizable", "linearizable".to_string()),
        CheckResult::Illegal { witness } => (
            "illegal",
            match &witness.partition {
                Some(key) => format!("not linearizable (partition {})", escape(key)),
                None => "not linearizable".to_string(),
            },
        ),
        CheckResult::Unknown { reason } => (
            "unknown",
            format!("unknown: the check gave up ({reason:?})"),
        ),
    };
    format!(
        "<p class=\"verdict {class}\">{verdict}</p>\n<p>{} operations, {} clients, {} partitions.</p>\n",
        history.len(),
        clients.len(),
        partition_count
    )
}

/// Each member's role in the verdict.
fn roles(
    result: &CheckResult,
    key: &Option<String>,
    members: &[OperationId],
) -> BTreeMap<OperationId, Role> {
    let member_set: BTreeSet<OperationId> = members.iter().copied().collect();
    let mut roles: BTreeMap<OperationId, Role> =
        members.iter().map(|&id| (id, Role::Other)).collect();
    let ordered: Vec<OperationId> = match result {
        CheckResult::Linearizable { order } => order
            .iter()
            .copied()
            .filter(|id| member_set.contains(id))
            .collect(),
        CheckResult::Illegal { witness } if &witness.partition == key => witness.prefix.clone(),
        CheckResult::Illegal { .. } | CheckResult::Unknown { .. } => Vec::new(),
    };
    for (position, id) in ordered.into_iter().enumerate() {
        roles.insert(id, Role::Ordered(position + 1));
    }
    if let CheckResult::Illegal { witness } = result {
        if &witness.partition == key {
            for (index, &id) in witness.cannot_follow.iter().enumerate() {
                roles.insert(
                    id,
                    if index == 0 {
                        Role::Breaking
                    } else {
                        Role::Blocked
                    },
                );
            }
        }
    }
    roles
}

/// Maps the times of one partition's operations to x coordinates by rank.
struct TimeAxis {
    ranks: BTreeMap<u64, usize>,
}

impl TimeAxis {
    fn new<I, O>(history: &History<I, O>, members: &[OperationId]) -> Self {
        let times: BTreeSet<u64> = members
            .iter()
            .map(|id| &history.operations()[id.0])
            .flat_map(|operation| {
                std::iter::once(operation.invoke_time).chain(operation.return_time)
            })
            .collect();
        TimeAxis {
            ranks: times
                .into_iter()
                .enumerate()
                .map(|(rank, time)| (time, rank))
                .collect(),
        }
    }

    fn x(&self, time: u64) -> f64 {
        LEFT_MARGIN + self.ranks.get(&time).copied().unwrap_or(0) as f64 * TIME_STEP_WIDTH
    }

    /// Where operations without a return end: past the last time.
    fn end(&self) -> f64 {
        LEFT_MARGIN + (self.ranks.len() + 1) as f64 * TIME_STEP_WIDTH
    }
}

/// What the page shows of one partition.
struct Partition<'a> {
    key: &'a Option<String>,
    members: &'a [OperationId],
    roles: BTreeMap<OperationId, Role>,
    axis: TimeAxis,
    /// Whether the section starts unfolded.
    open: bool,
}

fn partition_section<M: Model>(
    history: &History<M::Input, M::Output>,
    model: &M,
    partition: &Partition<'_>,
    result: &CheckResult,
) -> String {
    let Partition {
        key,
        members,
        roles,
        axis,
        open,
    } = partition;
    let name = match key {
        Some(key) => format!("partition {}", escape(key)),
        None => "history".to_string(),
    };
    let mut section = String::new();
    let _ = writeln!(
        section,
        "<details{}><summary>{name} ({} operations)</summary>",
        if *open { " open" } else { "" },
        members.len()
    );
    section.push_str(&timeline(history, model, axis, members, roles));
    match result {
        CheckResult::Linearizable { .. } => {
            section.push_str("<h3>Linearization</h3>\n");
            section.push_str(&order_table(history, model, roles, None));
        }
        CheckResult::Illegal { witness } if &witness.partition == *key => {
            section.push_str("<h3>Longest linearizable prefix, and what cannot follow it</h3>\n");
            section.push_str(&order_table(history, model, roles, Some(witness)));
        }
        CheckResult::Illegal { .. } => {
            section.push_str(
                "<p>Not part of the witness: the check stopped at the illegal partition.</p>\n",
            );
        }
        CheckResult::Unknown { .. } => {}
    }
    section.push_str("</details>\n");
    section
}

/// The SVG picture: one row per client, one box per operation.
fn timeline<M: Model>(
    history: &History<M::Input, M::Output>,
    model: &M,
    axis: &TimeAxis,
    members: &[OperationId],
    roles: &BTreeMap<OperationId, Role>,
) -> String {
    let operations = history.operations();
    let clients: BTreeSet<ClientId> = members.iter().map(|id| operations[id.0].client).collect();
    let rows: BTreeMap<ClientId, usize> = clients
        .iter()
        .enumerate()
        .map(|(row, &client)| (client, row))
        .collect();
    let width = axis.end() + 20.0;
    let height = TOP_MARGIN + rows.len() as f64 * ROW_HEIGHT + 10.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<div class=\"timeline\"><svg width=\"{width:.0}\" height=\"{height:.0}\" xmlns=\"http://www.w3.org/2000/svg\">"
    );
    let _ = writeln!(
        svg,
        "<text class=\"axis\" x=\"{LEFT_MARGIN}\" y=\"14\">time (ranked) &#8594;</text>"
    );
    for (client, row) in &rows {
        let y = TOP_MARGIN + *row as f64 * ROW_HEIGHT;
        let _ = writeln!(
            svg,
            "<text class=\"client\" x=\"4\" y=\"{:.1}\">client {}</text><line class=\"row\" x1=\"{LEFT_MARGIN}\" x2=\"{width:.0}\" y1=\"{:.1}\" y2=\"{:.1}\"/>",
            y + BOX_HEIGHT * 0.7,
            client.0,
            y + BOX_HEIGHT / 2.0,
            y + BOX_HEIGHT / 2.0
        );
    }
    for &id in members {
        let operation = &operations[id.0];
        let row = rows[&operation.client];
        let y = TOP_MARGIN + row as f64 * ROW_HEIGHT;
        let left = axis.x(operation.invoke_time);
        let right = operation
            .return_time
            .map_or(axis.end(), |time| axis.x(time))
            .max(left + 6.0);
        let role = roles.get(&id).copied().unwrap_or(Role::Other);
        let mut classes = vec![role_class(role)];
        match operation.outcome {
            Outcome::Ok(_) => {}
            Outcome::Failed => classes.push("failed"),
            Outcome::Unknown => classes.push("unknown-outcome"),
        }
        if operation.return_time.is_none() {
            classes.push("open-ended");
        }
        let description = describe(model, operation);
        let label = match role {
            Role::Ordered(position) => format!("{position}. {description}"),
            Role::Breaking | Role::Blocked | Role::Other => description.clone(),
        };
        let _ = writeln!(
            svg,
            "<g class=\"operation {}\" data-operation=\"{}\"><title>{} {} [{} .. {}] {}</title><rect x=\"{left:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{BOX_HEIGHT}\" rx=\"3\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text></g>",
            classes.join(" "),
            id.0,
            id,
            escape(&operation.client.to_string()),
            operation.invoke_time,
            operation.return_time.map_or("?".to_string(), |time| time.to_string()),
            escape(&label),
            right - left,
            left + 3.0,
            y + BOX_HEIGHT * 0.7,
            escape(&box_label(&label, role, right - left)),
        );
    }
    svg.push_str("</svg></div>\n");
    svg
}

/// The linearization (or witness prefix) with the state after each operation.
fn order_table<M: Model>(
    history: &History<M::Input, M::Output>,
    model: &M,
    roles: &BTreeMap<OperationId, Role>,
    witness: Option<&IllegalWitness>,
) -> String {
    let operations = history.operations();
    let mut ordered: Vec<(usize, OperationId)> = roles
        .iter()
        .filter_map(|(&id, &role)| match role {
            Role::Ordered(position) => Some((position, id)),
            Role::Breaking | Role::Blocked | Role::Other => None,
        })
        .collect();
    ordered.sort();
    let mut table = String::from("<table class=\"order\"><tr><th>#</th><th>operation</th><th>client</th><th>interval</th><th>state after</th></tr>\n");
    let mut state = Some(model.initial_state());
    for (position, id) in ordered {
        let operation = &operations[id.0];
        state =
            state.and_then(|current| model.step(&current, &operation.input, operation.output()));
        let state_text = state
            .as_ref()
            .map_or("(illegal)".to_string(), |state| model.describe_state(state));
        let _ = writeln!(
            table,
            "<tr class=\"ordered\" data-operation=\"{}\"><td>{position}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            id.0,
            escape(&describe(model, operation)),
            operation.client.0,
            interval(operation.invoke_time, operation.return_time),
            escape(&state_text)
        );
    }
    if let Some(witness) = witness {
        let state_text = state
            .as_ref()
            .map_or("(illegal)".to_string(), |state| model.describe_state(state));
        for (index, &id) in witness.cannot_follow.iter().enumerate() {
            let operation = &operations[id.0];
            let (class, note) = if index == 0 {
                ("breaking", "cannot follow: its return forces it next")
            } else {
                ("blocked", "cannot follow either")
            };
            let _ = writeln!(
                table,
                "<tr class=\"{class}\" data-operation=\"{}\"><td>&#10007;</td><td>{}</td><td>{}</td><td>{}</td><td>{note} (state is {})</td></tr>",
                id.0,
                escape(&describe(model, operation)),
                operation.client.0,
                interval(operation.invoke_time, operation.return_time),
                escape(&state_text)
            );
        }
    }
    table.push_str("</table>\n");
    table
}

fn describe<M: Model>(
    model: &M,
    operation: &super::history::Operation<M::Input, M::Output>,
) -> String {
    let description = model.describe_operation(&operation.input, operation.output());
    match operation.outcome {
        Outcome::Ok(_) => description,
        Outcome::Failed => format!("{description} (failed)"),
        Outcome::Unknown => format!("{description} (unknown outcome)"),
    }
}

fn interval(invoke_time: u64, return_time: Option<u64>) -> String {
    match return_time {
        Some(return_time) => format!("{invoke_time} .. {return_time}"),
        None => format!("{invoke_time} .. &#8734;"),
    }
}

fn role_class(role: Role) -> &'static str {
    match role {
        Role::Ordered(_) => "ordered",
        Role::Breaking => "breaking",
        Role::Blocked => "blocked",
        Role::Other => "other",
    }
}

/// What fits in a box `width` pixels wide: the label, else at least the position in the order.
fn box_label(label: &str, role: Role, width: f64) -> String {
    let short = shorten(label, width);
    match role {
        Role::Ordered(position) if short.chars().count() <= position.to_string().len() + 4 => {
            position.to_string()
        }
        Role::Ordered(_) | Role::Breaking | Role::Blocked | Role::Other => short,
    }
}

/// The label cut to fit a box `width` pixels wide, ending in an ellipsis when cut.
fn shorten(label: &str, width: f64) -> String {
    let fitting = ((width - 6.0) / LABEL_CHARACTER_WIDTH).max(0.0) as usize;
    if label.chars().count() <= fitting {
        return label.to_string();
    }
    if fitting < 2 {
        return String::new();
    }
    let mut short: String = label.chars().take(fitting - 1).collect();
    short.push('\u{2026}');
    short
}

/// Escapes text for HTML element content and attribute values.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

const STYLE: &str = r#"<style>
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
.verdict { font-size: 1.3em; font-weight: bold; }
.verdict.linearizable { color: #1a7f37; }
.verdict.illegal { color: #c62828; }
.verdict.unknown { color: #9a6700; }
details { margin: 1em 0; border: 1px solid #ddd; border-radius: 6px; padding: 0.5em; }
summary { cursor: pointer; font-weight: bold; }
.timeline { overflow-x: auto; border: 1px solid #eee; margin: 0.5em 0; }
svg text { font-size: 11px; font-family: ui-monospace, monospace; }
svg .client { fill: #555; }
svg .axis { fill: #888; }
svg .row { stroke: #eee; }
.operation rect { stroke: #555; stroke-width: 1; }
.operation text { fill: #111; pointer-events: none; }
.operation.ordered rect { fill: #b6e3c1; }
.operation.breaking rect { fill: #ef5350; stroke: #8e0000; stroke-width: 2.5; }
.operation.blocked rect { fill: #ffcdd2; stroke: #c62828; }
.operation.other rect { fill: #eceff1; stroke: #b0bec5; }
.operation.failed rect { stroke-dasharray: 2 2; opacity: 0.6; }
.operation.open-ended rect { stroke-dasharray: 6 3; }
.operation.selected rect { stroke: #1565c0; stroke-width: 3; }
table.order { border-collapse: collapse; font-family: ui-monospace, monospace; font-size: 12px; }
table.order td, table.order th { border: 1px solid #ddd; padding: 2px 6px; text-align: left; }
table.order td:nth-child(4) { white-space: nowrap; }
tr.breaking { background: #ef9a9a; font-weight: bold; }
tr.blocked { background: #ffebee; }
tr.selected { outline: 3px solid #1565c0; }
.legend span { display: inline-block; padding: 1px 8px; margin-right: 6px; border: 1px solid #999; border-radius: 3px; font-size: 12px; }
</style>
"#;

const LEGEND: &str = r#"<p class="legend"><span style="background:#b6e3c1">linearized (number = position)</span><span style="background:#ef5350">breaks the prefix</span><span style="background:#ffcdd2">cannot follow either</span><span style="background:#eceff1">no part in the verdict</span><span style="border-style:dashed">no return / failed</span> Hover a box for details; click it to find it in the table.</p>
"#;

const SCRIPT: &str = r#"<script>
document.querySelectorAll('[data-operation]').forEach(function (element) {
  element.addEventListener('click', function () {
    var id = element.getAttribute('data-operation');
    document.querySelectorAll('.selected').forEach(function (other) { other.classList.remove('selected'); });
    document.querySelectorAll('[data-operation="' + id + '"]').forEach(function (match) {
      match.classList.add('selected');
      if (match !== element && match.scrollIntoView) { match.scrollIntoView({ block: 'center' }); }
    });
  });
});
</script>
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::register::{RegisterInput, RegisterModel, RegisterOutput};
    use crate::checker::{check, Budget, ClientId, Operation};

    fn history() -> History<RegisterInput, RegisterOutput> {
        let mut history = History::new();
        let operations = [
            (
                0,
                0,
                Some(1),
                RegisterInput::Write(1),
                Outcome::Ok(RegisterOutput::Written),
            ),
            (
                1,
                2,
                Some(3),
                RegisterInput::Read,
                Outcome::Ok(RegisterOutput::Read(Some(2))),
            ),
            (2, 0, None, RegisterInput::Write(3), Outcome::Unknown),
        ];
        for (client, invoke_time, return_time, input, outcome) in operations {
            history
                .push(Operation {
                    client: ClientId(client),
                    invoke_time,
                    return_time,
                    input,
                    outcome,
                })
                .unwrap();
        }
        history
    }

    #[test]
    fn illegal_page_highlights_the_witness() {
        let history = history();
        let result = check(&history, &RegisterModel, Budget::steps(1000));
        let page = render(&history, &RegisterModel, &result, "a <stale> read");
        assert!(page.contains("<title>a &lt;stale&gt; read</title>"));
        assert!(page.contains("not linearizable"));
        assert!(page.contains("class=\"operation breaking\" data-operation=\"1\""));
        assert!(page.contains("class=\"operation ordered\" data-operation=\"0\""));
        assert!(page.contains("cannot follow: its return forces it next"));
        // Self-contained: nothing is fetched.
        assert!(!page.contains("src=") && !page.contains("<link") && !page.contains("url("));
    }

    #[test]
    fn linearizable_page_numbers_the_order() {
        let mut history = history();
        history
            .push(Operation {
                client: ClientId(0),
                invoke_time: 4,
                return_time: Some(5),
                input: RegisterInput::Read,
                outcome: Outcome::Ok(RegisterOutput::Read(Some(1))),
            })
            .unwrap();
        let mut fixed = History::new();
        for (index, operation) in history.operations().iter().enumerate() {
            if index != 1 {
                fixed.push(operation.clone()).unwrap();
            }
        }
        let result = check(&fixed, &RegisterModel, Budget::steps(1000));
        let page = render(&fixed, &RegisterModel, &result, "fine");
        assert!(page.contains("verdict linearizable"));
        assert!(page.contains("1. write(1) -&gt; ok"));
        assert!(page.contains("2. read() -&gt; 1"));
        assert!(page.contains("open-ended"));
    }
}
