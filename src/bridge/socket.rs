//! The WebSocket and the handlers bound to it. Dropping a `Socket` unhooks its handlers before
//! it closes the socket, so that a late `close` or `message` event finds no handler rather
//! than a freed closure.

use wasm_bindgen::prelude::*;
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

pub struct Socket {
    pub ws: WebSocket,
    _on_open: Closure<dyn FnMut()>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

impl Socket {
    /// Opens `url` with the `mqtt` subprotocol, binary frames as ArrayBuffers.
    pub fn open(
        url: &str,
        on_open: impl FnMut() + 'static,
        on_message: impl FnMut(MessageEvent) + 'static,
        on_close: impl FnMut(CloseEvent) + 'static,
    ) -> Result<Socket, JsValue> {
        let ws = WebSocket::new_with_str(url, "mqtt")?;
        ws.set_binary_type(BinaryType::Arraybuffer);
        let on_open = Closure::<dyn FnMut()>::new(on_open);
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(on_message);
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(on_close);
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        Ok(Socket {
            ws,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
        })
    }

    /// Writes `bytes` if the socket is open; false if it is not.
    pub fn send(&self, bytes: &[u8]) -> bool {
        self.ws.ready_state() == WebSocket::OPEN && self.ws.send_with_u8_array(bytes).is_ok()
    }

    /// Unhooks the handlers and closes the socket; the closures stay alive until the
    /// `Socket` is dropped, so that this may run inside one of them.
    pub fn shut(&self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        let _ = self.ws.close();
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.shut();
    }
}
