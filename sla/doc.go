// Package sla says when a ticket is due: the moment by which its queue's
// response_time promises the customer a first answer (issue 14, service
// levels). The caller computes it once, when the ticket is created, as
// Due(created, queue.ResponseTime, queue.BusinessHours), and compares the
// clock with it (and with it less [agents] remind_before) for reminders and
// escalations.
//
// # The rule
//
// Without business hours the response time runs around the clock: the due
// time is start + d.
//
// With business hours ([queue.business_hours], config.BusinessHours) only
// working time counts: the time inside [start, end) of each working day
// (a day of Weekdays that is not one of HolidayDates), read on the wall
// clock of the business hours' Location. A ticket that comes in outside
// working time is counted from the next working minute, so d = 0 gives that
// minute itself, and Friday 16:30 + 1h with 09:00 to 17:00 from Monday to
// Friday is Monday 09:30. A due time that uses up a working day exactly is
// that day's end (Friday 16:00 + 1h is Friday 17:00).
//
// Working time is real time: a working day runs from the first moment the
// zone's clock shows its start to the first moment it shows its end. On a
// day the clocks change outside the working hours (Europe/Berlin at 02:00
// on 2026-03-29 and 03:00 on 2026-10-25), 09:00 to 17:00 is eight hours as
// on any day. Where the change falls inside them, the day is as long as
// the time that passes: 00:00 to 24:00 is 23 hours on the day the clocks
// go forward and 25 on the day they go back. A start or end that the
// clocks skip counts from the moment of the change (02:30 on 2026-03-29 in
// Berlin is 03:00 summer time); one they show twice counts at its first
// showing (02:30 on 2026-10-25 is 02:30 summer time).
//
// # Bounds
//
// Due looks for the working time in the MaxDays days from the day of start
// on. Working days come every week, so only business hours whose holidays
// fill that span, or a d longer than the working time of it, exhaust it;
// Due then returns start + d, as without business hours. Due therefore
// always ends, after at most MaxDays steps, and never returns a time before
// start + d. A negative d counts as 0.
//
// Due returns its time in start's location; time.Time compares instants,
// so the location matters only for printing.
package sla
