/** A virtualised list of items of varying height: only what is near the viewport is in the DOM.

Heights are estimated until an item has been shown, then measured (and re-measured by a
ResizeObserver as it grows, e.g. while an answer streams). The list keeps to the bottom while
the reader is there, and otherwise keeps the first visible item still when heights above it
change, so nothing jumps under the reader's eyes.
*/

const OVERSCAN_PX = 600;
const BOTTOM_SLACK_PX = 48;

export class VirtualList {
  /** `renderItem(item) -> Element`, `keyOf(item) -> string`, `estimate(item) -> px`. */
  constructor(scroller, { renderItem, keyOf, estimate }) {
    this.scroller = scroller;
    this.renderItem = renderItem;
    this.keyOf = keyOf;
    this.estimate = estimate;
    this.items = [];
    this.index = new Map(); // key -> position
    this.heights = new Map(); // key -> measured px
    this.rendered = new Map(); // key -> wrapper element
    this.tops = [0];
    this.follow = true;
    this.frame = 0;
    this.spacer = document.createElement('div');
    this.spacer.className = 'vl-spacer';
    scroller.append(this.spacer);
    this.resize = new ResizeObserver((entries) => {
      let changed = false;
      for (const entry of entries) {
        const key = entry.target.dataset.key;
        const height = entry.borderBoxSize?.[0]?.blockSize ?? entry.target.offsetHeight;
        if (key && this.rendered.get(key) === entry.target && this.heights.get(key) !== height) {
          this.heights.set(key, height);
          changed = true;
        }
      }
      if (changed) this.schedule();
    });
    this.onScroll = () => {
      const { scrollTop, scrollHeight, clientHeight } = scroller;
      this.follow = scrollHeight - scrollTop - clientHeight <= BOTTOM_SLACK_PX;
      this.schedule();
    };
    scroller.addEventListener('scroll', this.onScroll, { passive: true });
  }

  /** Show these items (positions kept for keys already known). */
  setItems(items) {
    this.items = items;
    this.index = new Map(items.map((item, i) => [this.keyOf(item), i]));
    for (const key of [...this.rendered.keys()]) if (!this.index.has(key)) this.drop(key);
    this.layout();
  }

  /** Re-render one item if it is shown (its height is re-measured). */
  refresh(key) {
    const wrapper = this.rendered.get(key);
    if (!wrapper) return;
    const item = this.items[this.index.get(key)];
    wrapper.replaceChildren(this.renderItem(item));
    this.schedule();
  }

  /** The element of a shown item, or null. */
  elementOf(key) {
    return this.rendered.get(key)?.firstElementChild ?? null;
  }

  /** Scroll to the end and keep following new content. */
  toBottom() {
    this.follow = true;
    this.layout();
  }

  schedule() {
    if (!this.frame) {
      this.frame = requestAnimationFrame(() => {
        this.frame = 0;
        this.layout();
      });
    }
  }

  drop(key) {
    const wrapper = this.rendered.get(key);
    if (!wrapper) return;
    this.resize.unobserve(wrapper);
    wrapper.remove();
    this.rendered.delete(key);
  }

  heightOf(i) {
    const item = this.items[i];
    return this.heights.get(this.keyOf(item)) ?? this.estimate(item);
  }

  computeTops() {
    const tops = new Array(this.items.length + 1);
    tops[0] = 0;
    for (let i = 0; i < this.items.length; i += 1) tops[i + 1] = tops[i] + this.heightOf(i);
    this.tops = tops;
    return tops[this.items.length];
  }

  firstAt(offset) {
    let low = 0;
    let high = this.items.length - 1;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (this.tops[mid + 1] <= offset) low = mid + 1;
      else high = mid;
    }
    return Math.max(0, low);
  }

  layout() {
    const scroller = this.scroller;
    // Anchor: the first visible item and where it sits, to keep it still if heights change.
    let anchorKey = null;
    let anchorOffset = 0;
    if (!this.follow && this.items.length) {
      const first = this.firstAt(scroller.scrollTop);
      anchorKey = this.keyOf(this.items[first]);
      anchorOffset = this.tops[first] - scroller.scrollTop;
    }
    for (let pass = 0; pass < 3; pass += 1) {
      const total = this.computeTops();
      this.spacer.style.height = `${total}px`;
      let top = scroller.scrollTop;
      if (this.follow) top = Math.max(0, total - scroller.clientHeight);
      else if (anchorKey !== null && this.index.has(anchorKey)) {
        top = Math.max(0, this.tops[this.index.get(anchorKey)] - anchorOffset);
      }
      if (Math.abs(scroller.scrollTop - top) >= 1) scroller.scrollTop = top;
      if (!this.renderRange(top - OVERSCAN_PX, top + scroller.clientHeight + OVERSCAN_PX)) break;
    }
  }

  /** Make the DOM hold exactly the items in [from, to]; true when a new height was measured. */
  renderRange(from, to) {
    if (!this.items.length) {
      for (const key of [...this.rendered.keys()]) this.drop(key);
      return false;
    }
    const first = this.firstAt(Math.max(0, from));
    const wanted = new Set();
    const created = [];
    for (let i = first; i < this.items.length && this.tops[i] <= to; i += 1) {
      const item = this.items[i];
      const key = this.keyOf(item);
      wanted.add(key);
      let wrapper = this.rendered.get(key);
      if (!wrapper) {
        wrapper = document.createElement('div');
        wrapper.className = 'vl-item';
        wrapper.dataset.key = key;
        wrapper.setAttribute('role', 'article');
        wrapper.append(this.renderItem(item));
        this.spacer.append(wrapper);
        this.rendered.set(key, wrapper);
        this.resize.observe(wrapper);
        created.push([key, wrapper]);
      }
      wrapper.setAttribute('aria-posinset', String(i + 1));
      wrapper.setAttribute('aria-setsize', String(this.items.length));
      wrapper.style.transform = `translateY(${this.tops[i]}px)`;
    }
    for (const key of [...this.rendered.keys()]) if (!wanted.has(key)) this.drop(key);
    let measuredNew = false;
    for (const [key, wrapper] of created) {
      const height = wrapper.offsetHeight;
      if (this.heights.get(key) !== height) {
        this.heights.set(key, height);
        measuredNew = true;
      }
    }
    return measuredNew;
  }

  /** Stop observing (the screen is going away). */
  dispose() {
    cancelAnimationFrame(this.frame);
    this.resize.disconnect();
    this.scroller.removeEventListener('scroll', this.onScroll);
  }
}
