// @ts-check
/**
 * Named events with listeners, for the client and its subscriptions. Part of the subscriber
 * client served under `/js/`.
 */

/** @typedef {(event: never) => void} Listener */

/** Listeners by event name; a listener that throws never stops the others. */
export class Emitter {
  /** @type {Map<string, Set<Listener>>} */
  #listeners = new Map();
  /** Told when a listener throws (its error, the event's name). */
  /** @type {(error: unknown, name: string) => void} */
  #onListenerError;

  /** @param {(error: unknown, name: string) => void} onListenerError */
  constructor(onListenerError) {
    this.#onListenerError = onListenerError;
  }

  /**
   * Adds a listener; returns a function that removes it.
   * @param {string} name
   * @param {Listener} listener
   * @returns {() => void}
   */
  on(name, listener) {
    if (typeof listener !== "function") throw new TypeError("listener must be a function");
    let set = this.#listeners.get(name);
    if (!set) {
      set = new Set();
      this.#listeners.set(name, set);
    }
    set.add(listener);
    return () => this.off(name, listener);
  }

  /**
   * @param {string} name
   * @param {Listener} listener
   */
  off(name, listener) {
    this.#listeners.get(name)?.delete(listener);
  }

  /**
   * Whether anyone listens for `name`.
   * @param {string} name
   */
  has(name) {
    return (this.#listeners.get(name)?.size ?? 0) > 0;
  }

  /**
   * Calls every listener of `name` (those added meanwhile wait for the next event).
   * @param {string} name
   * @param {unknown} event
   */
  emit(name, event) {
    for (const listener of [...(this.#listeners.get(name) ?? [])]) {
      try {
        /** @type {(event: unknown) => void} */ (listener)(event);
      } catch (error) {
        this.#onListenerError(error, name);
      }
    }
  }
}
