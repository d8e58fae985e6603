//! An event listener as a handle: it stays registered while the handle lives, and dropping the
//! handle removes it, so that no closure is ever called after it was freed.

use wasm_bindgen::prelude::*;
use web_sys::EventTarget;

pub struct Listener {
    target: EventTarget,
    name: &'static str,
    closure: Closure<dyn FnMut(web_sys::Event)>,
}

impl Listener {
    /// Listens for `name` on `target`; `None` if the browser refused the listener.
    pub fn new(
        target: &EventTarget,
        name: &'static str,
        f: impl FnMut(web_sys::Event) + 'static,
    ) -> Option<Listener> {
        let closure = Closure::<dyn FnMut(web_sys::Event)>::new(f);
        target
            .add_event_listener_with_callback(name, closure.as_ref().unchecked_ref())
            .ok()?;
        Some(Listener {
            target: target.clone(),
            name,
            closure,
        })
    }

    /// On the page's window, if there is one.
    pub fn on_window(
        name: &'static str,
        f: impl FnMut(web_sys::Event) + 'static,
    ) -> Option<Listener> {
        Listener::new(web_sys::window()?.as_ref(), name, f)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self
            .target
            .remove_event_listener_with_callback(self.name, self.closure.as_ref().unchecked_ref());
    }
}
