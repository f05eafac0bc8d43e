//! Building what an entry point returns.
//!
//! This file owns the builder methods of [`Response`] and [`Event`] (the
//! wire types themselves are in [`crate::abi`]), the JSON helpers
//! [`to_json`] and [`from_json`], and [`QueryOutput`], what a query may
//! return. It does not own how outputs are encoded for the host (`export.rs`).

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::abi::{Event, Message, Response, SystemMsg};
use crate::error::Error;

impl Response {
    /// An empty response: no data, no events, no messages.
    pub fn new() -> Self {
        Response::default()
    }

    /// Adds an event (after those already added).
    pub fn add_event(mut self, event: Event) -> Self {
        self.events.push(event);
        self
    }

    /// Adds a call to another module's `handle`, `msg` encoded as JSON. It
    /// runs after this call, atomically with it: if it fails, this call's
    /// effects are undone too.
    pub fn add_message(mut self, module: impl Into<String>, msg: &impl Serialize) -> Result<Self, Error> {
        let module = module.into();
        let msg = serde_json::to_vec(msg)
            .map_err(|e| Error::encode(alloc::format!("message to module \"{module}\""), e))?;
        self.messages.push(Message::Call { module, msg });
        Ok(self)
    }

    /// Adds a message to module `module` of another partnership `to`
    /// (`pp1…` or 64 hex digits), `msg` encoded as JSON. It is sent only if
    /// this call succeeds, and delivered once the op is final here; the
    /// receiver sees this partnership (`pp1…`) as the caller. The charter
    /// must give this module the `message_partnerships` permission.
    ///
    /// ```
    /// use polypact_sdk::{Response, abi::Message};
    ///
    /// let fee = serde_json::json!({"record_revenue": {"amount": "250"}});
    /// let response = Response::new().send_to_partnership("pp1qqqq", "treasury", &fee).unwrap();
    /// assert!(matches!(&response.messages[0], Message::Partnership { module, .. } if module == "treasury"));
    /// ```
    pub fn send_to_partnership(
        mut self,
        to: impl Into<String>,
        module: impl Into<String>,
        msg: &impl Serialize,
    ) -> Result<Self, Error> {
        let module = module.into();
        let msg = serde_json::to_vec(msg).map_err(|e| {
            Error::encode(alloc::format!("message to module \"{module}\" of another partnership"), e)
        })?;
        self.messages.push(Message::Partnership { to: to.into(), module, msg });
        Ok(self)
    }

    /// Adds a system message (the charter must allow this module to send it).
    pub fn add_system(mut self, msg: SystemMsg) -> Self {
        self.messages.push(Message::System(msg));
        self
    }

    /// Sets the data returned to the caller, encoded as JSON.
    pub fn set_data(mut self, data: &impl Serialize) -> Result<Self, Error> {
        self.data = Some(serde_json::to_vec(data).map_err(|e| Error::encode("response data", e))?);
        Ok(self)
    }

    /// Decodes the data as `T` (`None` if there is none); for callers and tests.
    pub fn data_as<T: DeserializeOwned>(&self) -> Result<Option<T>, Error> {
        self.data.as_deref().map(|d| from_json(d, "response data")).transpose()
    }
}

impl Event {
    /// An event of this kind, without attributes yet.
    pub fn new(kind: impl Into<String>) -> Self {
        Event { kind: kind.into(), attributes: Vec::new() }
    }

    /// Adds an attribute; `value` is formatted with `Display`.
    pub fn attr(mut self, key: impl Into<String>, value: impl ToString) -> Self {
        self.attributes.push((key.into(), value.to_string()));
        self
    }

    /// The value of the first attribute named `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.attributes.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// JSON bytes already encoded, e.g. from [`to_json`]: a query whose answers
/// differ in type per message returns this.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Json(pub Vec<u8>);

/// Encodes `value` as JSON.
pub fn to_json(value: &impl Serialize) -> Result<Json, Error> {
    serde_json::to_vec(value).map(Json).map_err(|e| Error::encode("value", e))
}

/// Decodes JSON bytes as `T`; `what` names them in the error (`"config"`).
pub fn from_json<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|e| Error::decode(what, e))
}

/// What a query entry point may return: any `Serialize` type (encoded as
/// JSON), or [`Json`] (already encoded).
pub trait QueryOutput {
    /// The JSON answer.
    fn into_json(self) -> Result<Vec<u8>, Error>;
}

impl QueryOutput for Json {
    fn into_json(self) -> Result<Vec<u8>, Error> {
        Ok(self.0)
    }
}

impl<T: Serialize> QueryOutput for T {
    fn into_json(self) -> Result<Vec<u8>, Error> {
        serde_json::to_vec(&self).map_err(|e| Error::encode("query answer", e))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn builder_collects_in_order() {
        let r = Response::new()
            .add_event(Event::new("a").attr("n", 1u64).attr("who", "pm1x"))
            .add_message("votes", &serde_json::json!({"close": {}}))
            .unwrap()
            .add_system(SystemMsg::RemoveParticipant { member: "pm1x".into() })
            .set_data(&7u32)
            .unwrap();
        assert_eq!(r.events[0].attributes, vec![("n".into(), "1".into()), ("who".into(), "pm1x".into())]);
        assert_eq!(r.events[0].get("who"), Some("pm1x"));
        assert_eq!(r.messages[0], Message::Call { module: "votes".into(), msg: br#"{"close":{}}"#.to_vec() });
        assert_eq!(r.data_as::<u32>().unwrap(), Some(7));
    }

    #[test]
    fn unencodable_message_is_an_error() {
        let mut bad = alloc::collections::BTreeMap::new();
        bad.insert(vec![1u8], 1u8); // JSON object keys must be strings
        let err = Response::new().add_message("m", &bad).unwrap_err();
        assert!(matches!(err, Error::Encode { .. }), "{err}");
    }
}
