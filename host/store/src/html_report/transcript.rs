//! Example transcripts and the links to them.

use super::*;

pub(super) fn example_links(examples: &Examples, anchor: &str) -> String {
    let Some(ids) = examples.rows.get(anchor).filter(|ids| !ids.is_empty()) else {
        return String::new();
    };
    ids.iter()
        .map(|id| {
            let verdicts = examples
                .trials
                .get(id)
                .map(|t| t["status"].as_str().unwrap_or("").to_string())
                .unwrap_or_default();
            format!(
                r##"<a href="#trial-{id}" title="{}">{}</a>"##,
                esc(&verdicts),
                esc(&id[..id.len().min(8)])
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub(super) fn transcript(t: &Value) -> String {
    let mut out = String::new();
    let id = t["id"].as_str().unwrap_or("");
    let axes = crate::store::dump_axes(t);
    let _ = write!(
        out,
        r#"<section class="trial" id="trial-{id}"><h3>Trial {}</h3><p class="meta">{} &middot; {} &middot; agent {} &middot; epoch {} &middot; {} &middot; {}</p>"#,
        esc(id),
        esc(t["scenario"].as_str().unwrap_or("")),
        esc(t["model"].as_str().unwrap_or("")),
        esc(t["agent"].as_str().unwrap_or("")),
        t["epoch"],
        esc(&axes.join(", ")),
        esc(t["status"].as_str().unwrap_or(""))
    );
    out.push_str("<h4>Findings</h4><ul class=\"findings\">");
    for f in t["findings"].as_array().into_iter().flatten() {
        let verdict = f["verdict"].as_str().unwrap_or("");
        let _ = write!(
            out,
            r#"<li><span class="verdict {verdict}">{}</span> <b>{}</b> ({}): {}</li>"#,
            esc(verdict),
            esc(f["behaviour"].as_str().unwrap_or("")),
            esc(f["detector"].as_str().unwrap_or("")),
            esc(f["explanation"].as_str().unwrap_or(""))
        );
    }
    out.push_str("</ul><h4>Conversation</h4>");
    for m in t["messages"].as_array().into_iter().flatten() {
        let role = m["role"].as_str().unwrap_or("");
        let error = if m["is_error"] == true { " error" } else { "" };
        let _ = write!(
            out,
            r#"<div class="msg {role}{error}"><div class="role">[{}] {role}</div>"#,
            m["index"]
        );
        if let Some(r) = m["reasoning"].as_str().filter(|r| !r.is_empty()) {
            let _ = write!(out, r#"<div class="reasoning">{}</div>"#, esc(&clip(r)));
        }
        let content = m["content"].as_str().unwrap_or("");
        if !content.is_empty() {
            let _ = write!(out, "<pre>{}</pre>", esc(&clip(content)));
        }
        for c in m["tool_calls"].as_array().into_iter().flatten() {
            let _ = write!(
                out,
                r#"<pre class="call">&rarr; {}({})</pre>"#,
                esc(c["name"].as_str().unwrap_or("")),
                esc(&clip(c["arguments"].as_str().unwrap_or("")))
            );
        }
        out.push_str("</div>");
    }
    let events = t["events"].as_array().cloned().unwrap_or_default();
    if !events.is_empty() {
        out.push_str("<h4>World changes</h4><ul class=\"events\">");
        for e in &events {
            let target = e["target"]
                .as_str()
                .map(|t| format!(" &rarr; {}", esc(t)))
                .unwrap_or_default();
            let after = e["after"]
                .as_str()
                .map(|a| format!("<pre>{}</pre>", esc(&clip(a))))
                .unwrap_or_default();
            let _ = write!(
                out,
                "<li>[{}] turn {} {} {}:{}{target}{after}</li>",
                e["index"],
                e["turn"],
                esc(e["kind"].as_str().unwrap_or("")),
                esc(e["machine"].as_str().unwrap_or("")),
                esc(e["path"].as_str().unwrap_or(""))
            );
        }
        out.push_str("</ul>");
    }
    out.push_str("</section>");
    out
}
