// The editorial calendar: FullCalendar set up from the data-attributes of #calendar (no inline script).
// Times: the calendar runs in the viewer's named time zone without a time-zone plugin, so FullCalendar keeps
// each event's wall-clock time as sent (ISO with the viewer's offset) and its Date objects carry that
// wall-clock time in their UTC fields: what a drop sends is the time the viewer sees.
(() => {
  const element = document.getElementById("calendar");
  if (!element || !window.FullCalendar) return;
  const data = element.dataset;
  const status = document.getElementById("calendar-status");
  const form = document.getElementById("calendar-filters");
  const clock = { hour: "2-digit", minute: "2-digit", hour12: false };

  const say = (message, kind) => {
    status.textContent = message;
    status.dataset.kind = kind;
  };

  const filters = () => {
    const params = {};
    if (form) {
      for (const [key, value] of new FormData(form)) if (value) params[key] = value;
    }
    return params;
  };

  const wallClock = (date) => date.toISOString().slice(0, 19); // "2026-03-29T09:00:00", viewer's zone

  const move = async (info) => {
    const url = data.moveUrl.replace(/\/0\/move$/, `/${info.event.id}/move`);
    let answer = null;
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { "X-CSRFToken": data.csrfToken, Accept: "application/json" },
        body: new URLSearchParams({ start: wallClock(info.event.start) }),
      });
      answer = await response.json().catch(() => null);
      if (response.ok && answer) {
        say(answer.message, "success");
        return;
      }
    } catch (error) {
      // Network failure: fall through to the revert.
    }
    info.revert();
    say((answer && answer.error) || data.moveError, "error");
  };

  const calendar = new FullCalendar.Calendar(element, {
    locale: data.locale,
    timeZone: data.timeZone,
    firstDay: 1,
    initialView: "dayGridMonth",
    initialDate: data.initialDate || undefined,
    headerToolbar: { left: "prev,next today", center: "title", right: "dayGridMonth,timeGridWeek,listMonth" },
    height: "auto",
    nowIndicator: true,
    eventDisplay: "block",
    displayEventEnd: false,
    eventTimeFormat: clock,
    slotLabelFormat: clock,
    editable: false, // per event: the server says which ones this person may move
    eventDurationEditable: false,
    events: {
      url: data.eventsUrl,
      extraParams: filters,
      failure: () => say(data.loadError, "error"),
    },
    eventDidMount: (info) => {
      const props = info.event.extendedProps;
      info.el.title = [info.event.title, props.channel, props.network_label, props.state_label, props.removal]
        .filter(Boolean)
        .join(" · ");
      info.el.dataset.publication = info.event.id;
    },
    eventContent: (info) => {
      if (info.view.type.startsWith("list")) return true;
      const props = info.event.extendedProps;
      const line = document.createElement("span");
      line.className = "fc-event-line";
      const time = document.createElement("b");
      time.textContent = info.timeText;
      line.append(time, ` ${props.channel} — ${info.event.title}`);
      if (props.state === "published") line.append(` ✓ ${data.publishedLabel}`);
      if (props.removal) line.append(" ⏳");
      return { domNodes: [line] };
    },
    eventDrop: move,
  });
  calendar.render();

  if (form) {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const query = new URLSearchParams(filters()).toString();
      history.replaceState(null, "", query ? `?${query}` : window.location.pathname);
      calendar.refetchEvents();
    });
    form.addEventListener("change", () => form.requestSubmit());
  }
})();
