//! What a click or key on the widget asks for, read once from the event: the element it acted on
//! carries `data-act` (and `data-q`, `data-i` for an option), and [`Act::of`] turns that into one
//! value the panel matches on.

use alloc::string::String;
use wasm_bindgen::{prelude::wasm_bindgen, JsCast};
use web_sys::{Element, Event};

use crate::dom::join;
use crate::survey::Question;

/// One thing the person asked for; `X` is what a channel adds (the web module adds nothing).
#[derive(Debug)]
pub enum Act<X> {
    /// The launcher: opens the survey, or closes it when it is open.
    Open,
    /// The panel's close button.
    Close,
    /// Send.
    Send,
    /// Option `option` (0-based) of `question`.
    Choose { question: Question, option: usize },
    /// An action of the channel's own elements (the kiosk's languages, agent mode's Assist).
    Channel(X),
}

/// The `data-act` values of the panel's own elements.
pub const OPEN: &str = "open";
pub const CLOSE: &str = "close";
pub const SEND: &str = "send";
pub const CHOOSE: &str = "opt";

impl<X> Act<X> {
    /// The act of the element at or above the event's target, `None` when there is none (or the
    /// event is the idle callback's deadline). `channel` reads the values the panel does not
    /// know (`data-act`, the element).
    pub fn of(event: &Event, channel: impl FnOnce(&str, &Element) -> Option<X>) -> Option<Self> {
        let target = acting(event, "[data-act]")?;
        let name = target.get_attribute("data-act")?;
        Some(match name.as_str() {
            OPEN => Self::Open,
            CLOSE => Self::Close,
            SEND => Self::Send,
            CHOOSE => Self::Choose {
                question: Question::at(index_attr(&target, "data-q")?)?,
                option: index_attr(&target, "data-i")?,
            },
            other => Self::Channel(channel(other, &target)?),
        })
    }
}

/// The element matching `selector` at or above the event's target. `closest` is caught, so a
/// target that is not an element simply matches nothing.
fn acting(event: &Event, selector: &str) -> Option<Element> {
    event
        .target()?
        .unchecked_into::<Element>()
        .closest(selector)
        .ok()
        .flatten()
}

/// The one-digit index in attribute `name` (`data-q`, `data-i`).
pub fn index_attr(el: &Element, name: &str) -> Option<usize> {
    let value = el.get_attribute(name)?;
    let digit = value.bytes().next()?;
    digit.is_ascii_digit().then(|| usize::from(digit - b'0'))
}

/// The one decimal digit of `n` (every index and scale point is below 10), without allocating.
pub fn digit(n: usize) -> &'static str {
    const DIGITS: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
    DIGITS[n % 10]
}

/// `"n – label"`: the accessible name of scale option `n`.
pub fn scale_name(n: usize, label: &str) -> String {
    join(&[digit(n), " – ", label])
}

#[wasm_bindgen]
extern "C" {
    /// An event seen through its `key` (a `KeyboardEvent`'s; `None` on any other event), so the
    /// keydown listener needs no class check.
    pub type Keyed;
    #[wasm_bindgen(method, getter)]
    pub fn key(this: &Keyed) -> Option<String>;
}
