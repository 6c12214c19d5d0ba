//! `track` as plain N-API callbacks, for the call a server makes per event.
//!
//! A `#[napi]` method on `NativeSonde` costs about 5,500 instructions before it reaches the
//! core (callgrind, `bench/track_instructions.js`): unwrapping `this` (~1,700), napi-rs's
//! borrow barrier for `&self` (~2,000) and reading each string twice, once for its UTF-8
//! length and once to copy it (~1,050 a string). These functions carry the client's `Slot`
//! as their callback data, so there is no `this` to unwrap, and read each string with one
//! copy into a buffer sized from its UTF-16 length (which V8 knows without a scan).
//! Conversion and delegation only, as in the rest of the binding.

use std::ffi::{c_char, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::Arc;

use napi::{check_status, sys, Env};
use sonde_core::event::calls;
use sonde_core::{codes, Error as CoreError, ErrorKind, Message, Sonde, Violation};

use crate::errors::throw;
use crate::slot::Slot;

/// `{ track, trackFor }` bound to `slot`: see `NativeSonde::event_calls`.
pub fn event_calls(env: &Env, slot: &Arc<Slot>) -> napi::Result<sys::napi_value> {
    let raw = env.raw();
    let mut calls = ptr::null_mut();
    check_status!(unsafe { sys::napi_create_object(raw, &mut calls) })?;
    bound(raw, calls, c"track", track, slot)?;
    bound(raw, calls, c"trackFor", track_for, slot)?;
    Ok(calls)
}

/// Sets `calls[name]` to a function running `callback` with a handle on `slot`, released
/// when the function is collected.
fn bound(
    env: sys::napi_env,
    calls: sys::napi_value,
    name: &std::ffi::CStr,
    callback: unsafe extern "C" fn(sys::napi_env, sys::napi_callback_info) -> sys::napi_value,
    slot: &Arc<Slot>,
) -> napi::Result<()> {
    let data = Box::into_raw(Box::new(Arc::clone(slot))).cast::<c_void>();
    let mut function = ptr::null_mut();
    let created = unsafe {
        sys::napi_create_function(
            env,
            name.as_ptr(),
            name.count_bytes() as isize,
            Some(callback),
            data,
            &mut function,
        )
    };
    let owned = check_status!(created).and_then(|()| {
        check_status!(unsafe {
            sys::napi_add_finalizer(
                env,
                function,
                data,
                Some(release),
                ptr::null_mut(),
                ptr::null_mut(),
            )
        })
    });
    if let Err(e) = owned {
        drop(unsafe { Box::from_raw(data.cast::<Arc<Slot>>()) });
        return Err(e);
    }
    check_status!(unsafe { sys::napi_set_named_property(env, calls, name.as_ptr(), function) })
}

unsafe extern "C" fn release(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    drop(unsafe { Box::from_raw(data.cast::<Arc<Slot>>()) });
}

/// `track(event, propertiesJson?, optionsJson?)`: returns the message id.
unsafe extern "C" fn track(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    unsafe {
        run(env, info, |sonde, [event, properties, options]| {
            let event = required(env, event, "/event")?;
            let properties = optional(env, properties, "/properties")?;
            let options = optional(env, options, "/options")?;
            calls::track(sonde, event, properties, options.as_deref())
        })
    }
}

/// `trackFor(event, propertiesJson?, userId)`: the common call whose options name only its
/// user.
unsafe extern "C" fn track_for(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    unsafe {
        run(env, info, |sonde, [event, properties, user_id]| {
            let event = required(env, event, "/event")?;
            let properties = optional(env, properties, "/properties")?;
            let user_id = required(env, user_id, "/userId")?;
            calls::track_as(sonde, event, properties, Some(user_id), None, None)
        })
    }
}

/// Reads three arguments, builds the message with `make` for the current client and sends
/// it there. A core error is thrown as `SondeError`; a panic (none is expected) as an
/// `Error` instead of crossing into Node.
unsafe fn run(
    env: sys::napi_env,
    info: sys::napi_callback_info,
    make: impl FnOnce(&Sonde, [sys::napi_value; 3]) -> Result<Message, CoreError>,
) -> sys::napi_value {
    let mut argc = 3usize;
    let mut argv = [ptr::null_mut(); 3];
    let mut data = ptr::null_mut();
    let read = unsafe {
        sys::napi_get_cb_info(
            env,
            info,
            &mut argc,
            argv.as_mut_ptr(),
            ptr::null_mut(),
            &mut data,
        )
    };
    if read != sys::Status::napi_ok || data.is_null() {
        return thrown(env, c"sonde: could not read the call's arguments");
    }
    // The finalizer frees it only once the function, which is running now, is collected.
    let slot = unsafe { &*data.cast::<Arc<Slot>>() };
    let sent = catch_unwind(AssertUnwindSafe(|| {
        let current = slot.current();
        make(&current.sonde, argv).and_then(|message| current.sonde.send(message))
    }));
    match sent {
        Ok(Ok(receipt)) => id_value(env, &receipt.message_id),
        Ok(Err(e)) => {
            // `throw` leaves the `SondeError` pending; what it returns only says so.
            let _ = throw(&Env::from_raw(env), &e);
            ptr::null_mut()
        }
        Err(_) => thrown(
            env,
            c"internal error in sonde (please report it): track panicked",
        ),
    }
}

fn thrown(env: sys::napi_env, message: &std::ffi::CStr) -> sys::napi_value {
    unsafe { sys::napi_throw_error(env, ptr::null(), message.as_ptr()) };
    ptr::null_mut()
}

/// The message id as a JS string (Latin-1 when ASCII, which generated ids always are: no
/// UTF-8 decoding).
fn id_value(env: sys::napi_env, id: &str) -> sys::napi_value {
    let mut value = ptr::null_mut();
    let text = id.as_ptr().cast::<c_char>();
    let made = if id.is_ascii() {
        unsafe { sys::napi_create_string_latin1(env, text, id.len() as isize, &mut value) }
    } else {
        unsafe { sys::napi_create_string_utf8(env, text, id.len() as isize, &mut value) }
    };
    if made == sys::Status::napi_ok {
        value
    } else {
        thrown(env, c"sonde: could not make the message id a string")
    }
}

/// A string argument; anything else is an `invalid_type` violation at `path`.
fn required(env: sys::napi_env, value: sys::napi_value, path: &str) -> Result<String, CoreError> {
    optional(env, value, path)?.ok_or_else(|| not_a_string(path))
}

/// A string argument, or `None` for `null` and `undefined`.
fn optional(
    env: sys::napi_env,
    value: sys::napi_value,
    path: &str,
) -> Result<Option<String>, CoreError> {
    // UTF-16 length: V8 keeps it, where the UTF-8 length is a scan of the string.
    let mut units = 0usize;
    let measured =
        unsafe { sys::napi_get_value_string_utf16(env, value, ptr::null_mut(), 0, &mut units) };
    if measured != sys::Status::napi_ok {
        let mut kind = 0;
        let typed = unsafe { sys::napi_typeof(env, value, &mut kind) };
        return match (typed, kind) {
            (sys::Status::napi_ok, sys::ValueType::napi_undefined | sys::ValueType::napi_null) => {
                Ok(None)
            }
            _ => Err(not_a_string(path)),
        };
    }
    // A UTF-16 unit is at most three bytes of UTF-8 (a surrogate pair, two units, is four);
    // V8 writes lone surrogates as U+FFFD, three bytes. One more for the terminator.
    let capacity = units * 3 + 1;
    let mut bytes: Vec<u8> = Vec::with_capacity(capacity);
    let mut written = 0usize;
    let copied = unsafe {
        sys::napi_get_value_string_utf8(
            env,
            value,
            bytes.as_mut_ptr().cast::<c_char>(),
            capacity,
            &mut written,
        )
    };
    if copied != sys::Status::napi_ok || written >= capacity {
        return Err(not_a_string(path));
    }
    // SAFETY: V8 wrote `written` bytes of valid UTF-8 (invalid sequences replaced).
    unsafe {
        bytes.set_len(written);
        Ok(Some(String::from_utf8_unchecked(bytes)))
    }
}

fn not_a_string(path: &str) -> CoreError {
    CoreError::with_violations(
        ErrorKind::InvalidEvent,
        vec![Violation::new(
            path,
            codes::INVALID_TYPE,
            "must be a string",
        )],
    )
}
