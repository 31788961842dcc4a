package config_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"ticketd/config"
	"ticketd/config/configtest"
)

// twoQueues is a fragment with the queues support and billing; extra is
// written into billing's [[queue]] table, after its keys.
func twoQueues(extra string) string {
	return `
[[queue]]
name = "support"
purpose = "support"
response_time = "1d"

[[queue]]
name = "billing"
purpose = "support"
response_time = "8h"
` + extra
}

func TestQueueLoopDefaults(t *testing.T) {
	c := configtest.Parse(t)
	q := c.Queue("support")
	switch {
	case q.Notify != config.NotifyFull:
		t.Errorf("notify = %q, want %q", q.Notify, config.NotifyFull)
	case q.ReopenWithin.Duration != 30*24*time.Hour:
		t.Errorf("reopen_within = %v, want 30d", q.ReopenWithin)
	case q.BusinessHours != nil:
		t.Errorf("business_hours = %+v, want nil without the table", q.BusinessHours)
	}
	a := c.Agents
	if a.Schedule != "*/5 * * * *" || a.RemindBefore.Duration != 2*time.Hour || a.DigestSchedule != "0 7 * * 1-5" || !a.Digest() {
		t.Errorf("agents = %+v, want the defaults", a)
	}
}

func TestQueueLoopKeys(t *testing.T) {
	c := configtest.Parse(t, `
[[queue]]
name = "support"
purpose = "support"
response_time = "1d"
notify = "minimal"
reopen_within = "7d"

[agents]
schedule = "@hourly"
remind_before = "30m"
digest_schedule = "off"
`)
	q := c.Queue("support")
	if q.Notify != config.NotifyMinimal || q.ReopenWithin.Duration != 7*24*time.Hour {
		t.Errorf("queue = %+v", q)
	}
	a := c.Agents
	if a.Schedule != "@hourly" || a.RemindBefore.Duration != 30*time.Minute || a.DigestSchedule != "off" || a.Digest() {
		t.Errorf("agents = %+v", a)
	}
}

// TestBusinessHoursBelongToTheirQueue: a [queue.business_hours] header
// after the second [[queue]] is that queue's; the first has none.
func TestBusinessHoursBelongToTheirQueue(t *testing.T) {
	const base = "[[queue]]\nname = \"support\"\npurpose = \"support\"\nresponse_time = \"1d\"\n"
	if !strings.Contains(configtest.Text(t), base) {
		t.Fatal("the base configuration has changed its queue")
	}
	text := strings.Replace(configtest.Text(t), base, twoQueues(`
[queue.business_hours]
days = ["Mon", "tue", "WED", "sat"]
start = "08:30"
end = "24:00"
time_zone = "Pacific/Auckland"
holidays = ["2026-12-25", "2027-01-01"]
`), 1)
	c, err := config.Parse("test.toml", []byte(text))
	if err != nil {
		t.Fatalf("Parse:\n%v\n%s", err, text)
	}
	if len(c.Queues) != 2 {
		t.Fatalf("queues = %+v", c.Queues)
	}
	if b := c.Queue("support").BusinessHours; b != nil {
		t.Errorf("support has business hours %+v", b)
	}
	b := c.Queue("billing").BusinessHours
	if b == nil {
		t.Fatal("billing has no business hours")
	}
	want := [7]bool{time.Monday: true, time.Tuesday: true, time.Wednesday: true, time.Saturday: true}
	switch {
	case b.Weekdays != want:
		t.Errorf("weekdays = %v, want %v", b.Weekdays, want)
	case b.StartMinute != 8*60+30 || b.EndMinute != 24*60:
		t.Errorf("minutes = %d..%d, want 510..1440", b.StartMinute, b.EndMinute)
	case b.Location == nil || b.Location.String() != "Pacific/Auckland":
		t.Errorf("location = %v", b.Location)
	case len(b.HolidayDates) != 2 || !b.HolidayDates["2026-12-25"] || !b.HolidayDates["2027-01-01"]:
		t.Errorf("holidays = %v", b.HolidayDates)
	}
}

func TestBusinessHoursDefaultDays(t *testing.T) {
	c := configtest.Parse(t, twoQueues(`
[queue.business_hours]
start = "09:00"
end = "17:00"
time_zone = "UTC"
`))
	b := c.Queue("billing").BusinessHours
	want := [7]bool{time.Monday: true, time.Tuesday: true, time.Wednesday: true, time.Thursday: true, time.Friday: true}
	if b.Weekdays != want || strings.Join(b.Days, ",") != "mon,tue,wed,thu,fri" || b.Location != time.UTC || len(b.HolidayDates) != 0 {
		t.Errorf("business hours = %+v", b)
	}
}

func TestQueueLoopInvalid(t *testing.T) {
	hours := func(keys string) string { return twoQueues("[queue.business_hours]\n" + keys) }
	const ok = "start = \"09:00\"\nend = \"17:00\"\ntime_zone = \"Europe/Berlin\"\n"
	for _, tc := range []struct {
		name, fragment string
		want           []string
	}{
		{"notify", twoQueues(`notify = "all"`), []string{`queue[2].notify: must be one of "full", "minimal", got "all"`}},
		{"reopen_within zero", twoQueues(`reopen_within = "0s"`), []string{`queue[2].reopen_within: must be positive, got 0s`}},
		{"reopen_within negative", twoQueues(`reopen_within = "-1d"`), []string{`queue[2].reopen_within: must be positive, got -1d`}},
		{"business_hours not a table", twoQueues(`business_hours = "9-17"`), []string{`queue[2].business_hours: expected a table, got a string`}},
		{"unknown key", hours(ok + "lunch = \"12:00\"\n"), []string{`unknown key "lunch" in queue[2].business_hours`}},
		{"missing keys", hours("days = [\"mon\"]\n"), []string{
			`missing required key "start" in queue[2].business_hours`,
			`missing required key "end" in queue[2].business_hours`,
			`missing required key "time_zone" in queue[2].business_hours`}},
		{"empty keys", hours("start = \"\"\nend = \"\"\ntime_zone = \"\"\n"), []string{
			`queue[2].business_hours.start: must not be empty`,
			`queue[2].business_hours.end: must not be empty`,
			`queue[2].business_hours.time_zone: must not be empty`}},
		{"bad day", hours(ok + "days = [\"mon\", \"monday\", \"\"]\n"), []string{
			`queue[2].business_hours.days[2]: must be one of "mon", "tue", "wed", "thu", "fri", "sat", "sun", got "monday"`,
			`queue[2].business_hours.days[3]: must be one of "mon", "tue", "wed", "thu", "fri", "sat", "sun", got ""`}},
		{"duplicate day", hours(ok + "days = [\"mon\", \"tue\", \"Mon\"]\n"), []string{
			`queue[2].business_hours.days[3]: duplicate day "Mon", first listed as days[1]`}},
		{"no working day", hours(ok + "days = []\n"), []string{
			`queue[2].business_hours.days: must name at least one working day`}},
		{"start format", hours("start = \"9:00\"\nend = \"17:00\"\ntime_zone = \"UTC\"\n"), []string{
			`queue[2].business_hours.start: must be a time of day "HH:MM" from "00:00" to "23:59", got "9:00"`}},
		{"start 24:00", hours("start = \"24:00\"\nend = \"24:00\"\ntime_zone = \"UTC\"\n"), []string{
			`queue[2].business_hours.start: must be a time of day "HH:MM" from "00:00" to "23:59", got "24:00"`}},
		{"end out of range", hours("start = \"09:00\"\nend = \"17:60\"\ntime_zone = \"UTC\"\n"), []string{
			`queue[2].business_hours.end: must be a time of day "HH:MM" from "00:00" to "24:00", got "17:60"`}},
		{"end after 24:00", hours("start = \"09:00\"\nend = \"24:01\"\ntime_zone = \"UTC\"\n"), []string{
			`queue[2].business_hours.end: must be a time of day "HH:MM" from "00:00" to "24:00", got "24:01"`}},
		{"end with seconds", hours("start = \"09:00\"\nend = \"17:00:00\"\ntime_zone = \"UTC\"\n"), []string{
			`queue[2].business_hours.end: must be a time of day "HH:MM" from "00:00" to "24:00", got "17:00:00"`}},
		{"end before start", hours("start = \"17:00\"\nend = \"09:00\"\ntime_zone = \"UTC\"\n"), []string{
			`queue[2].business_hours.end: must be later than start "17:00", got "09:00" (working hours end on the day they start)`}},
		{"end equals start", hours("start = \"09:00\"\nend = \"09:00\"\ntime_zone = \"UTC\"\n"), []string{
			`queue[2].business_hours.end: must be later than start "09:00", got "09:00"`}},
		{"unknown zone", hours("start = \"09:00\"\nend = \"17:00\"\ntime_zone = \"Europe/Berln\"\n"), []string{
			`queue[2].business_hours.time_zone: unknown time zone "Europe/Berln" (an IANA name such as "Europe/Berlin" or "UTC")`}},
		{"zone path", hours("start = \"09:00\"\nend = \"17:00\"\ntime_zone = \"../../../etc/passwd\"\n"), []string{
			`queue[2].business_hours.time_zone: unknown time zone "../../../etc/passwd"`}},
		{"local zone", hours("start = \"09:00\"\nend = \"17:00\"\ntime_zone = \"Local\"\n"), []string{
			`queue[2].business_hours.time_zone: must be an IANA time zone name such as "Europe/Berlin", not "Local"`}},
		{"holiday", hours(ok + "holidays = [\"2026-12-24\", \"24.12.2026\", \"2026-02-30\", \"2026-1-05\"]\n"), []string{
			`queue[2].business_hours.holidays[2]: must be a date such as "2026-12-24", got "24.12.2026"`,
			`queue[2].business_hours.holidays[3]: must be a date such as "2026-12-24", got "2026-02-30"`,
			`queue[2].business_hours.holidays[4]: must be a date such as "2026-12-24", got "2026-1-05"`}},
		{"holiday as TOML date", hours(ok + "holidays = [2026-12-24]\n"), []string{
			`queue[2].business_hours.holidays[1]: expected a string, got a date or time`}},
		{"agents schedule", "[agents]\nschedule = \"61 * * * *\"", []string{
			`agents.schedule: end of range (61) above maximum (59): 61`}},
		{"agents schedule that panics cron", "[agents]\nschedule = \"CRON_TZ=UTC\"", []string{
			`agents.schedule: invalid schedule "CRON_TZ=UTC"`}},
		{"agents schedule empty", "[agents]\nschedule = \"\"", []string{`agents.schedule: empty schedule`}},
		{"remind_before zero", "[agents]\nremind_before = \"0s\"", []string{`agents.remind_before: must be positive, got 0s`}},
		{"remind_before negative", "[agents]\nremind_before = \"-2h\"", []string{`agents.remind_before: must be positive, got -2h0m0s`}},
		{"digest_schedule", "[agents]\ndigest_schedule = \"never\"", []string{
			`agents.digest_schedule: expected exactly 5 fields, found 1: [never] (or "off" for no digest)`}},
		{"digest_schedule Off", "[agents]\ndigest_schedule = \"Off\"", []string{
			`agents.digest_schedule: expected exactly 5 fields, found 1: [Off] (or "off" for no digest)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse("test.toml", []byte(configtest.Text(t, tc.fragment)))
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			var errs config.Errors
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got:\n%v\nwant an error with %q", err, w)
				}
			}
			if errors.As(err, &errs) && len(errs) != len(tc.want) {
				t.Errorf("got %d errors, want %d:\n%v", len(errs), len(tc.want), err)
			}
		})
	}
}
