//! What agents see: the composer preview (the sign and encrypt toggles follow
//! `/security-options`, "Create message" returns what `/outgoing` makes) and
//! the incoming check (banners from the report, the readable message, and
//! retry when importing a key or certificate could change the result).

use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use mail_parser::{MessageParser, MimeHeaders};
use serde::Deserialize;
use smime::incoming::Processed;
use smime::options::Choice;
use smimed_engine::{OutgoingRequest, Sender};
use smimed_store::Group;

use super::{Chrome, PlainFormSession, Session, UiResult, render};
use crate::error::{ApiError, unreadable_body};
use crate::{AppState, mail};

// --- composer ---------------------------------------------------------------------

/// The agent's hand on a switch: untouched (the group default applies), or
/// switched on or off by hand. Carried in the hidden inputs `sign_choice`
/// and `encrypt_choice` (app.js sets them on a click), so that a change of
/// recipients or group never overrides it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Hand {
    #[default]
    Default,
    On,
    Off,
}

impl Hand {
    fn parse(text: &str) -> Hand {
        match text {
            "on" => Hand::On,
            "off" => Hand::Off,
            _ => Hand::Default,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Hand::Default => "default",
            Hand::On => "on",
            Hand::Off => "off",
        }
    }

    /// What to ask `/outgoing` for, given also whether the switch was
    /// submitted checked. A switch the agent saw on means on (refused when
    /// not possible): an untouched switch shown on is asked for explicitly,
    /// so a change between showing and creating cannot silently drop it.
    /// An untouched switch shown off leaves the group default to the engine.
    fn request(self, checked: bool) -> Option<bool> {
        match self {
            Hand::On => Some(true),
            _ if checked => Some(true),
            Hand::Off => Some(false),
            Hand::Default => None,
        }
    }
}

/// One switch as the page shows it.
struct Switch {
    /// `sign` or `encrypt`: the checkbox's id and name.
    id: &'static str,
    label: &'static str,
    /// `default`, `on` or `off`, for the hidden `{id}_choice` input.
    choice: &'static str,
    checked: bool,
    /// Possible now (for the script: a checked switch that is not possible
    /// blocks "Create message").
    possible: bool,
    /// Off and not possible: nothing to switch. Never set while checked, so
    /// an explicit choice is never dropped by a disabled input.
    disabled: bool,
    /// The options' message (tooltip).
    message: String,
    /// The words under the switch.
    hint: String,
    /// Switched on by hand but not possible: a warning, and no message is made.
    conflict: bool,
}

impl Switch {
    /// The switch for `choice` (the options' answer) and the agent's `hand`.
    /// The first argument is (id, label, verb for "The group … by default");
    /// `group_default` is the group's raw default (unset means on);
    /// `note_default` says whether a default that cannot be honoured is worth
    /// saying (not while S/MIME is off or before any recipient is given).
    fn new(
        (id, label, verb): (&'static str, &'static str, &'static str),
        choice: &Choice,
        hand: Hand,
        group_default: bool,
        note_default: bool,
    ) -> Switch {
        let checked = match hand {
            Hand::On => true,
            Hand::Off => false,
            Hand::Default => choice.default,
        };
        let conflict = checked && !choice.possible;
        let hint = if conflict {
            format!(
                "You switched {label} on, but {}. “Create message” is refused until that \
                 changes or you switch {label} off.",
                choice.message
            )
        } else if hand == Hand::Default && group_default && !choice.possible && note_default {
            format!("The group {verb} by default, but: {}", choice.message)
        } else {
            choice.message.clone()
        };
        Switch {
            id,
            label,
            choice: hand.as_str(),
            checked,
            possible: choice.possible,
            disabled: !choice.possible && !checked,
            message: choice.message.clone(),
            hint,
            conflict,
        }
    }
}

#[derive(Template)]
#[template(path = "toggles.html")]
struct Toggles {
    switches: [Switch; 2],
}

#[derive(Template)]
#[template(path = "compose.html")]
struct Compose {
    chrome: Chrome,
    groups: Vec<Group>,
    form: ComposeForm,
    toggles: String,
    error: String,
}

/// The composer's fields, kept when the page comes back with an error.
#[derive(Default, Deserialize)]
pub(crate) struct ComposeForm {
    #[serde(default)]
    group: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    cc: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    sign_choice: String,
    #[serde(default)]
    encrypt_choice: String,
}

/// To and Cc as addresses (`a@x`, `Name <a@x>`, `"Doe, Jane" <j@x>`,
/// separated by commas or semicolons), or the first string that is none.
fn recipients(form: &ComposeForm) -> Result<(Vec<String>, Vec<String>), smimed_engine::Error> {
    Ok((
        smimed_engine::parse_list(&form.to)?,
        smimed_engine::parse_list(&form.cc)?,
    ))
}

async fn toggles(state: &AppState, s: &Session, form: &ComposeForm) -> UiResult<String> {
    let disabled = smime::options::disabled();
    let (opts, defaults, any_recipient) = if form.group.is_empty() {
        (disabled.clone(), (false, false), true)
    } else {
        let group = state
            .engine
            .sending_group(&s.caller.actor, &form.group)
            .await?;
        let defaults = (
            group.default_sign.unwrap_or(true),
            group.default_encrypt.unwrap_or(true),
        );
        let sender = Sender::Group(form.group.clone());
        match recipients(form) {
            Ok((to, cc)) => {
                let all: Vec<String> = to.into_iter().chain(cc).collect();
                let opts = state
                    .engine
                    .security_options(&s.caller.actor, &sender, &all)
                    .await
                    .map_err(ApiError::from)?;
                (opts, defaults, !all.is_empty())
            }
            // Not an address: the hint says which; signing does not depend
            // on the recipients.
            Err(e) => {
                let mut opts = state
                    .engine
                    .security_options(&s.caller.actor, &sender, &[])
                    .await
                    .map_err(ApiError::from)?;
                if opts != disabled {
                    opts.encryption = Choice {
                        possible: false,
                        default: false,
                        message: e.to_string(),
                    };
                }
                (opts, defaults, true)
            }
        }
    };
    // While S/MIME is off, or before any recipient is given, there is no
    // group default to report as not honoured.
    let enabled = opts != disabled;
    Ok(render(&Toggles {
        switches: [
            Switch::new(
                ("sign", "Sign", "signs"),
                &opts.sign,
                Hand::parse(&form.sign_choice),
                defaults.0,
                enabled,
            ),
            Switch::new(
                ("encrypt", "Encrypt", "encrypts"),
                &opts.encryption,
                Hand::parse(&form.encrypt_choice),
                defaults.1,
                enabled && any_recipient,
            ),
        ],
    })
    .0)
}

async fn compose_page(
    state: &AppState,
    s: &Session,
    mut form: ComposeForm,
    error: String,
) -> UiResult<Html<String>> {
    let groups = state.engine.sending_groups(&s.caller.actor).await?;
    if form.group.is_empty() {
        form.group = groups.first().map(|g| g.name.clone()).unwrap_or_default();
    }
    let toggles = toggles(state, s, &form).await?;
    Ok(render(&Compose {
        chrome: s.chrome("compose"),
        groups,
        form,
        toggles,
        error,
    }))
}

pub(crate) async fn compose(State(state): State<AppState>, s: Session) -> UiResult<Html<String>> {
    compose_page(&state, &s, ComposeForm::default(), String::new()).await
}

pub(crate) async fn options(
    State(state): State<AppState>,
    s: Session,
    Query(form): Query<ComposeForm>,
) -> UiResult<Html<String>> {
    Ok(Html(toggles(&state, &s, &form).await?))
}

/// "Create message": the `.eml` that `/outgoing` makes, as a download; on
/// any refusal the page comes back with the reason and the fields kept.
pub(crate) async fn create(
    State(state): State<AppState>,
    PlainFormSession(s): PlainFormSession,
    mut multipart: Multipart,
) -> UiResult<Response> {
    let mut form = ComposeForm::default();
    let (mut csrf, mut sign, mut encrypt, mut attachment) = (None, false, false, None);
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| unreadable_body(e.status(), e.body_text(), &e))?
    {
        let name = field.name().unwrap_or("").to_string();
        if name == "attachment" {
            let file = field.file_name().unwrap_or("attachment").to_string();
            let mime = field
                .content_type()
                .unwrap_or("application/octet-stream")
                .to_string();
            let data = field
                .bytes()
                .await
                .map_err(|e| unreadable_body(e.status(), e.body_text(), &e))?;
            if !data.is_empty() {
                attachment = Some(Attachment {
                    name: file,
                    mime,
                    data: data.to_vec(),
                });
            }
            continue;
        }
        let text = field
            .text()
            .await
            .map_err(|e| unreadable_body(e.status(), e.body_text(), &e))?;
        match name.as_str() {
            "csrf" => csrf = Some(text),
            "group" => form.group = text,
            "to" => form.to = text,
            "cc" => form.cc = text,
            "subject" => form.subject = text,
            "body" => form.body = text,
            "sign_choice" => form.sign_choice = text,
            "encrypt_choice" => form.encrypt_choice = text,
            "sign" => sign = true,
            "encrypt" => encrypt = true,
            _ => {}
        }
    }
    s.csrf_ok(csrf.as_deref())?;
    let request = OutgoingRequest {
        sign: Hand::parse(&form.sign_choice).request(sign),
        encrypt: Hand::parse(&form.encrypt_choice).request(encrypt),
        cipher: None,
        rsa_oaep: None,
        recipients: None,
    };
    let result = make_message(&state, &s, &form, attachment, request).await;
    match result {
        Ok(eml) => Ok((
            [
                (header::CONTENT_TYPE, "message/rfc822"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"message.eml\"",
                ),
                (header::CACHE_CONTROL, "no-store"),
            ],
            eml,
        )
            .into_response()),
        Err(e) => {
            let status = e.status;
            let page = compose_page(&state, &s, form, e.message).await?;
            Ok((status, page).into_response())
        }
    }
}

/// An uploaded attachment.
struct Attachment {
    name: String,
    mime: String,
    data: Vec<u8>,
}

async fn make_message(
    state: &AppState,
    s: &Session,
    form: &ComposeForm,
    attachment: Option<Attachment>,
    request: OutgoingRequest,
) -> Result<Vec<u8>, ApiError> {
    let group = state
        .engine
        .sending_group(&s.caller.actor, &form.group)
        .await?;
    let (to, cc) = recipients(form)?;
    if to.is_empty() {
        return Err(ApiError::bad_request("give at least one address in To"));
    }
    let raw = rfc5322(
        &group.email,
        &to,
        &cc,
        &form.subject,
        &form.body,
        attachment,
    )?;
    let who = Sender::Group(group.name);
    Ok(mail::run_outgoing(state, &s.caller, raw, who, request)
        .await?
        .message)
}

/// A plain message from the composer's fields, built by mail-builder:
/// UTF-8 text (encoded as the builder chooses, 7-bit safe), the subject and
/// the attachment's name as RFC 2047 words where they need it, and the
/// attachment in base64 under multipart/mixed.
fn rfc5322(
    from: &str,
    to: &[String],
    cc: &[String],
    subject: &str,
    body: &str,
    attachment: Option<Attachment>,
) -> Result<Vec<u8>, ApiError> {
    let domain = from.rsplit('@').next().unwrap_or("localhost");
    let id = format!("{}@{domain}", smimed_store::random_hex(16)?);
    let subject: String = subject.chars().filter(|c| !c.is_control()).collect();
    let list = |addresses: &[String]| -> Vec<String> { addresses.to_vec() };
    let mut message = mail_builder::MessageBuilder::new()
        .from(from.to_string())
        .to(list(to))
        .subject(subject)
        .date(smime::now())
        .message_id(id)
        .text_body(body.to_string());
    if !cc.is_empty() {
        message = message.cc(list(cc));
    }
    if let Some(a) = attachment {
        let name: String = a
            .name
            .chars()
            .filter(|c| !c.is_control() && *c != '"' && *c != '\\')
            .collect();
        let mime: String = a.mime.chars().filter(|c| c.is_ascii_graphic()).collect();
        message = message.attachment(mime, name, a.data);
    }
    message
        .write_to_vec()
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))
}

// --- incoming check -----------------------------------------------------------------

#[derive(Template)]
#[template(path = "check.html")]
struct Check {
    chrome: Chrome,
}

pub(crate) async fn check(s: Session) -> UiResult<Html<String>> {
    Ok(render(&Check {
        chrome: s.chrome("check"),
    }))
}

/// A banner: ok, bad or info, a title and the words.
struct Banner {
    class: &'static str,
    title: String,
    text: String,
}

#[derive(Template)]
#[template(path = "incoming_result.html")]
struct IncomingResult {
    id: String,
    banners: Vec<Banner>,
    layers: Vec<String>,
    /// Importing a key or certificate could change the result.
    can_retry: bool,
    headers: Vec<(&'static str, String)>,
    body: String,
    attachments: Vec<String>,
}

/// The banner of one kind of layer: its outcome (success, code, comment,
/// warnings), or that the message has no such layer. A success says only
/// that ("Decrypted"), unless there is a warning to give.
fn banner(
    outcome: Option<(bool, String, &str, &[String])>,
    done: &str,
    not_done: &str,
    absent: &str,
) -> Banner {
    match outcome {
        Some((true, _, _, warnings)) if !warnings.is_empty() => Banner {
            class: "warn",
            title: format!("{done}, with a warning"),
            text: warnings.join("; "),
        },
        Some((true, _, _, _)) => Banner {
            class: "ok",
            title: done.into(),
            text: String::new(),
        },
        Some((false, code, comment, _)) => Banner {
            class: "bad",
            title: format!("{not_done} ({code})"),
            text: comment.into(),
        },
        None => Banner {
            class: "info",
            title: absent.into(),
            text: String::new(),
        },
    }
}

fn code_name(code: impl serde::Serialize) -> String {
    serde_json::to_value(code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn incoming_result(id: String, p: &Processed) -> Html<String> {
    let r = &p.report;
    let encryption = r
        .encryption
        .as_ref()
        .map(|e| (e.success, code_name(e.code), e.comment.as_str(), &[][..]));
    let sign = r.sign.as_ref().map(|s| {
        (
            s.success,
            code_name(s.code),
            s.comment.as_str(),
            s.warnings.as_slice(),
        )
    });
    // Retry is offered only where importing something can change the
    // result: a missing or unopenable key, an unknown signer.
    let can_retry = r.encryption.as_ref().is_some_and(|e| {
        matches!(
            e.code,
            smime::incoming::DecryptCode::NoKey | smime::incoming::DecryptCode::KeyUnavailable
        )
    }) || r
        .sign
        .as_ref()
        .is_some_and(|s| s.code == smime::verify::SignCode::UnknownSigner);
    let mut banners = vec![
        banner(encryption, "Decrypted", "Not decrypted", "Not encrypted"),
        banner(
            sign,
            "Signature verified",
            "Signature not verified",
            "Not signed",
        ),
    ];
    if !r.learned.is_empty() {
        banners.push(Banner {
            class: "info",
            title: "Signer's certificate added as a contact".into(),
            text: "a CA you trust vouches for it; replies can now be encrypted to the sender"
                .into(),
        });
    }
    for fp in &r.pending {
        banners.push(Banner {
            class: "info",
            title: "Signer's certificate waits for an admin".into(),
            text: format!(
                "it is not trusted until an admin compares its fingerprint, {} …, with the sender and accepts it",
                smimed_engine::fingerprint_groups(fp)
                    .iter()
                    .take(4)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        });
    }
    if !r.header_mismatch.is_empty() {
        banners.push(Banner {
            class: "bad",
            title: "Header fields differ inside".into(),
            text: format!(
                "the protected part has other values for {}; shown here are the message's own",
                r.header_mismatch.join(", ")
            ),
        });
    }
    let layers = r
        .layers
        .iter()
        .map(|l| format!("{}: {} ({})", l.kind(), l.comment(), l.code()))
        .collect();
    let (mut headers, mut body, mut attachments) = (Vec::new(), String::new(), Vec::new());
    if let Some(m) = MessageParser::default().parse(&p.message) {
        let list = |a: Option<&mail_parser::Address<'_>>| {
            a.map(|a| {
                a.iter()
                    .map(|x| match (x.name(), x.address()) {
                        (Some(n), Some(e)) => format!("{n} <{e}>"),
                        (_, Some(e)) => e.to_string(),
                        (Some(n), None) => n.to_string(),
                        _ => String::new(),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
        };
        headers = vec![
            ("From", list(m.from())),
            ("To", list(m.to())),
            ("Cc", list(m.cc())),
            ("Subject", m.subject().unwrap_or_default().to_string()),
            ("Date", m.date().map(|d| d.to_rfc822()).unwrap_or_default()),
        ];
        headers.retain(|(_, v)| !v.is_empty());
        body = m.body_text(0).map(|t| t.into_owned()).unwrap_or_default();
        attachments = m
            .attachments()
            .map(|a| {
                format!(
                    "{} ({} bytes)",
                    a.attachment_name().unwrap_or("unnamed"),
                    a.len()
                )
            })
            .collect();
    }
    render(&IncomingResult {
        id,
        banners,
        layers,
        can_retry,
        headers,
        body,
        attachments,
    })
}

pub(crate) async fn incoming(
    State(state): State<AppState>,
    s: Session,
    mut multipart: Multipart,
) -> UiResult<Html<String>> {
    let mut raw = None;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| unreadable_body(e.status(), e.body_text(), &e))?
    {
        if field.name() == Some("message") {
            let data = field
                .bytes()
                .await
                .map_err(|e| unreadable_body(e.status(), e.body_text(), &e))?;
            raw = Some(data.to_vec());
        }
    }
    let raw = raw
        .filter(|r| !r.is_empty())
        .ok_or_else(|| ApiError::bad_request("choose an .eml file to check"))?;
    let received = mail::receive(&state, &s.caller, raw).await?;
    Ok(incoming_result(received.id, &received.processed))
}

/// The id of a kept message, typed in (mail from the SMTP gateway carries
/// it in `X-Smimed-Incoming-Id`).
#[derive(serde::Deserialize)]
pub(crate) struct KeptId {
    id: String,
}

pub(crate) async fn retry_kept(
    state: State<AppState>,
    s: Session,
    axum::Form(kept): axum::Form<KeptId>,
) -> UiResult<Response> {
    retry(state, s, Path(kept.id.trim().to_string())).await
}

pub(crate) async fn retry(
    State(state): State<AppState>,
    s: Session,
    Path(id): Path<String>,
) -> UiResult<Response> {
    let received = mail::reprocess(&state, &s.caller, &id).await?;
    Ok((StatusCode::OK, incoming_result(id, &received.processed)).into_response())
}
