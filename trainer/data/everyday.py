"""Everyday text: what people say to a voice assistant and what they dictate.

The project's own templates and vocabularies, filled by a generator with a fixed seed,
give tens of thousands of distinct raw sentences with digits, times, dates, money and
percentages in them (``"set an alarm for 6:45 tomorrow"``, ``"send $20 to Maria"``);
:func:`trainer.data.sentences.build_text_pools` normalizes them with
:func:`trainer.data.text.normalize_text` (numbers spelled out) and splits them by the
hash of the normalized text like every other source, so the dev and test splits get
held-out everyday sentences.

Domains: timers, alarms, weather, music, calls, messages, lists, lights and devices,
navigation, reminders, calendar, shopping, search, numbers and arithmetic, money, names
and places, short conversational sentences and general dictation-like sentences.

The texts do not depend on ``nnasr synth``'s ``--seed``: the same package version
always yields the same texts, so a held-out sentence stays held out.

:func:`word_coverage` measures the share of the most frequent English words (PyPI
``wordfreq``, a ``[train]`` extra) that a set of texts contains.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable

from .everyday_vocab import (
    _BAND_B,
    _MONTHS,
    _SONG_A,
    _SONG_B,
    _WEATHER,
    _WEEKDAYS,
    ABSTRACT,
    ABSTRACT_ADJ,
    ACTIONS,
    ADJECTIVES,
    ADVERBIALS,
    APPS,
    BUSINESSES,
    CITIES,
    COLORS,
    CONNECTORS,
    COUNTRIES,
    DEVICES,
    EVENTS,
    FEELINGS,
    FIRST_NAMES,
    FOODS,
    GENRES,
    GROCERIES,
    LISTS,
    MODALS,
    NOUNS,
    OPINIONS,
    PEOPLE,
    PLACES,
    RELATIONS,
    ROOMS,
    SEARCH_TOPICS,
    STREET_TYPES,
    STREETS,
    SURNAMES,
    TASKS,
    TOPICS,
    UNITS,
    US_STATES,
    VERBS,
    VERBS_3P,
)
from .text import normalize_text

EVERYDAY_SEED = 20261205
# Draws per template; a template with fewer combinations yields fewer distinct texts.
DRAWS_PER_TEMPLATE = 220

# --------------------------------------------------------------------------- slots

def _time(r: random.Random) -> str:
    h = r.randint(1, 12)
    m = r.choice([0, 0, 0, 5, 10, 15, 15, 20, 25, 30, 30, 35, 40, 45, 45, 50, 55, r.randint(1, 59)])
    clock = f"{h}:{m:02d}" if m else r.choice([f"{h}", f"{h}:00", f"{h} o'clock"])
    part = ("in the morning" if 5 <= h <= 11 else "in the afternoon" if h <= 5 or h == 12
            else "in the evening")
    return r.choice([clock, clock, f"{clock} {part}", f"{clock} {part}", "noon", "midnight",
                     f"half past {h}", f"quarter past {h}", f"quarter to {h}",
                     f"{m or 10} minutes past {h}"])


def _duration(r: random.Random) -> str:
    k = r.random()
    if k < 0.45:
        n = r.choice([1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 15, 20, 25, 30, 40, 45, 50, 60, 90,
                      r.randint(1, 99)])
        return f"{n} minute" if n == 1 else f"{n} minutes"
    if k < 0.6:
        n = r.choice([10, 15, 20, 30, 45, 90, r.randint(1, 59)])
        return f"{n} seconds"
    if k < 0.8:
        h = r.randint(1, 4)
        m = r.choice([10, 15, 20, 30, 45])
        return f"{h} hour{'s' if h > 1 else ''} and {m} minutes"
    if k < 0.9:
        return r.choice(["an hour", "half an hour", "a minute", "an hour and a half",
                         "two and a half minutes", "a quarter of an hour"])
    h = r.randint(1, 12)
    return f"{h} hour{'s' if h > 1 else ''}"


def _day(r: random.Random) -> str:
    k = r.random()
    if k < 0.3:
        return r.choice(["today", "tomorrow", "tonight", "this weekend", "next week",
                         "the day after tomorrow", "this afternoon", "tomorrow morning",
                         "tomorrow night", "this evening", "next month"])
    if k < 0.55:
        return r.choice(["", "on ", "next ", "this ", "on "]) + r.choice(_WEEKDAYS)
    d = r.randint(1, 31)
    suffix = "th" if 11 <= d % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(d % 10, "th")
    mo = r.choice(_MONTHS)
    return r.choice([f"on {mo} {d}{suffix}", f"{mo} {d}{suffix}", f"on the {d}{suffix}",
                     f"on the {d}{suffix} of {mo}", f"{mo} {d}"])


def _date(r: random.Random) -> str:
    d = r.randint(1, 28)
    return r.choice([f"{r.choice(_MONTHS)} {d}, {r.randint(1950, 2030)}",
                     f"{r.choice(_MONTHS)} {r.randint(1990, 2030)}",
                     f"{r.choice(_MONTHS)} {d}"])


def _money(r: random.Random) -> str:
    k = r.random()
    if k < 0.4:
        return f"${r.randint(1, 100)}"
    if k < 0.7:
        return f"${r.randint(1, 99)}.{r.randint(1, 99):02d}"
    if k < 0.85:
        return f"${r.choice([150, 200, 250, 300, 500, 750, 1000, 1200, 1500, 2000, r.randint(100, 9999)])}"
    return r.choice([f"£{r.randint(1, 200)}", f"€{r.randint(1, 200)}", f"{r.randint(2, 99)} cents",
                     f"£{r.randint(1, 50)}.{r.randint(10, 99)}"])


def _number(r: random.Random) -> str:
    k = r.random()
    if k < 0.5:
        return str(r.randint(0, 100))
    if k < 0.8:
        return str(r.randint(100, 1000))
    if k < 0.95:
        return f"{r.randint(1000, 99999):,}"
    return f"{r.randint(0, 99)}.{r.randint(1, 9)}"


def _small(r: random.Random) -> str:
    return str(r.choice([2, 2, 3, 3, 4, 5, 6, 7, 8, 9, 10, 12, 15, 20, 24, 30, 50, 100]))


def _phone(r: random.Random) -> str:
    digits = [str(r.randint(0, 9)) for _ in range(r.choice([7, 10]))]
    return " ".join(digits)


def _code(r: random.Random) -> str:
    return " ".join(str(r.randint(0, 9)) for _ in range(r.choice([4, 5, 6])))


def _address(r: random.Random) -> str:
    return f"{r.randint(1, 2500)} {r.choice(STREETS)} {r.choice(STREET_TYPES)}"


def _song(r: random.Random) -> str:
    a, b = r.choice(_SONG_A), r.choice(_SONG_B)
    return r.choice([f"{a} {b}", f"the {a} {b}", f"{b} of {a} {r.choice(_SONG_B)}s",
                     f"my {a} {b}", f"{a} {b} blues"])


def _artist(r: random.Random) -> str:
    return r.choice([f"{r.choice(FIRST_NAMES)} {r.choice(SURNAMES)}",
                     f"the {r.choice(_BAND_B)}", f"the {r.choice(_SONG_A)} {r.choice(_BAND_B)}",
                     f"{r.choice(FIRST_NAMES)} and the {r.choice(_BAND_B)}"])


def _name(r: random.Random) -> str:
    return r.choice(FIRST_NAMES)


def _contact(r: random.Random) -> str:
    k = r.random()
    if k < 0.45:
        return r.choice(FIRST_NAMES)
    if k < 0.7:
        return f"{r.choice(FIRST_NAMES)} {r.choice(SURNAMES)}"
    if k < 0.9:
        return "my " + r.choice(RELATIONS)
    return r.choice(["Doctor ", "Mr. ", "Mrs. ", "Ms. "]) + r.choice(SURNAMES)


def _temp(r: random.Random) -> str:
    return f"{r.randint(15, 85)} degrees"


def _percent(r: random.Random) -> str:
    return f"{r.choice([5, 10, 15, 20, 25, 30, 40, 50, 60, 70, 75, 80, 90, 100, r.randint(1, 99)])}%"


def _items(r: random.Random) -> str:
    a, b = r.sample(GROCERIES, 2)
    return r.choice([a, f"{a} and {b}", f"{_small(r)} {a}", f"some {a}", f"a bag of {a}"])


def _pick(xs: list[str]) -> Callable[[random.Random], str]:
    return lambda r: r.choice(xs)


SLOTS: dict[str, Callable[[random.Random], str]] = {
    "time": _time, "duration": _duration, "day": _day, "date": _date, "money": _money,
    "number": _number, "small": _small, "phone": _phone, "code": _code, "address": _address,
    "song": _song, "artist": _artist, "name": _name, "contact": _contact, "temp": _temp,
    "percent": _percent, "items": _items,
    "fullname": lambda r: f"{r.choice(FIRST_NAMES)} {r.choice(SURNAMES)}",
    "surname": _pick(SURNAMES), "relation": _pick(RELATIONS), "city": _pick(CITIES),
    "country": _pick(COUNTRIES), "state": _pick(US_STATES), "place": _pick(PLACES),
    "business": _pick(BUSINESSES), "room": _pick(ROOMS), "device": _pick(DEVICES),
    "color": _pick(COLORS), "grocery": _pick(GROCERIES), "list": _pick(LISTS),
    "genre": _pick(GENRES), "app": _pick(APPS), "event": _pick(EVENTS), "task": _pick(TASKS),
    "noun": _pick(NOUNS), "adj": _pick(ADJECTIVES), "when": _pick(ADVERBIALS),
    "verb": lambda r: r.choice(VERBS)[0], "verbed": lambda r: r.choice(VERBS)[1],
    "feeling": _pick(FEELINGS), "topic": _pick(TOPICS), "food": _pick(FOODS),
    "search": _pick(SEARCH_TOPICS), "unit": _pick(UNITS), "weekday": _pick(_WEEKDAYS),
    "month": _pick(_MONTHS), "weather": _pick(_WEATHER),
    "people": _pick(PEOPLE), "abstract": _pick(ABSTRACT), "aadj": _pick(ABSTRACT_ADJ),
    "says": lambda r: r.choice(VERBS_3P)[0], "said": lambda r: r.choice(VERBS_3P)[1],
    "action": _pick(ACTIONS), "modal": _pick(MODALS), "because": _pick(CONNECTORS),
    "opinion": _pick(OPINIONS),
    "year": lambda r: str(r.randint(1950, 2030)),
    "level": lambda r: str(r.choice([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 30, 40, 50, 60, 70, 80])),
}

# --------------------------------------------------------------------------- templates

TEMPLATES: dict[str, list[str]] = {
    "timers": [
        "set a timer for {duration}", "set a {duration} timer", "timer for {duration}",
        "start a timer for {duration}", "set a timer for {duration} for the {food}",
        "how much time is left on the timer", "cancel the {duration} timer",
        "add {duration} to the timer", "pause the timer", "stop the timer",
        "set a second timer for {duration}", "remind me in {duration} to check the oven",
    ],
    "alarms": [
        "set an alarm for {time}", "wake me up at {time}", "wake me up at {time} {day}",
        "set an alarm for {time} {day}", "change my alarm to {time}", "cancel my {time} alarm",
        "turn off all my alarms", "snooze for {duration}", "what time is my alarm set for",
        "set an alarm every weekday at {time}", "delete the alarm for {time}",
        "set an alarm called {task} for {time}",
    ],
    "weather": [
        "what's the weather like {day}", "what's the weather in {city}",
        "will it rain {day}", "is it going to snow in {city} {day}",
        "what's the temperature outside", "how hot will it be {day}",
        "do I need an umbrella {day}", "what's the forecast for {city} this week",
        "is it going to be windy {day}", "will there be {weather} in {city} {day}",
        "how cold is it in {city} right now", "what's the high {day}",
        "it's {temp} outside", "it's supposed to be {temp} {day}",
        "what's the humidity in {city}", "when does the sun set {day}",
        "is there a {percent} chance of rain {day}",
    ],
    "music": [
        "play {song} by {artist}", "play some {genre}", "play {artist}",
        "play the album {song}", "play my {genre} playlist", "shuffle songs by {artist}",
        "turn the volume up to {level}", "set the volume to {level}", "skip this song",
        "play the next song", "what song is this", "who sings this song",
        "add this song to my {song} playlist", "play {genre} in the {room}",
        "play something by {artist}", "repeat this song", "play the radio station {number}",
        "play {song} on the {room} speaker", "turn it down a little", "I like this song",
        "play the latest episode of {song}", "play {genre} for {duration}",
    ],
    "calls": [
        "call {contact}", "call {contact} on speaker", "call {contact} on their cell",
        "dial {phone}", "call {phone}", "phone {contact}", "video call {contact}",
        "call {business} in {city}", "call the nearest {business}", "redial the last number",
        "did {contact} call me", "who called me {day}", "call {contact} back",
        "what's {contact}'s phone number", "add {phone} to my contacts as {fullname}",
        "hang up", "call {contact} at work", "call my voicemail",
    ],
    "messages": [
        "text {contact} I'm {feeling}", "send a message to {contact}",
        "tell {contact} I'll be there in {duration}", "text {contact} that I'm {feeling}",
        "send {contact} a message saying see you at {time}",
        "reply I'll call you back", "read my new messages", "read the last message from {contact}",
        "send an email to {contact} about {topic}", "email {contact} the {noun}",
        "tell {contact} dinner is at {time}", "text {contact} can you pick up {items}",
        "message {contact} happy birthday", "tell {contact} I love you",
        "text {contact} the meeting moved to {time} {day}",
        "send {contact} my location", "tell {contact} I'm {feeling} and will be late",
        "did {contact} answer my message", "text {contact} the code is {code}",
    ],
    "lists": [
        "add {items} to my {list}", "put {grocery} on the {list}", "add {grocery} to the list",
        "remove {grocery} from my {list}", "what's on my {list}", "read my {list}",
        "create a new list called {list}", "clear my {list}", "do we need {grocery}",
        "add {task} to my to do list", "I need {items}", "check off {grocery}",
        "how many items are on my {list}", "we're out of {grocery}",
    ],
    "devices": [
        "turn on the {device}", "turn off the {device}", "turn on the {room} lights",
        "turn off the lights in the {room}", "dim the {room} lights to {percent}",
        "set the {room} lights to {color}", "make the lights {color}",
        "set the thermostat to {temp}", "turn the heat up to {temp}",
        "is the {device} on", "open the {device}", "close the {device}",
        "turn the {device} off in {duration}", "lock the front door", "is the garage door open",
        "set the brightness to {percent}", "start the {device}", "turn everything off",
        "turn on the {device} in the {room}", "set the {room} to {temp}",
        "turn the lights on at {time}", "switch off the {device}", "brighten the lights",
        "open {app}", "take a picture", "turn on do not disturb", "turn on the flashlight",
        "set the fan to level {small}", "lower the blinds in the {room}",
    ],
    "navigation": [
        "navigate to {place}", "take me to {address}", "directions to {city}",
        "how far is {city} from here", "how long will it take to get to {place}",
        "find a {business} near me", "where is the nearest {business}",
        "is there a {business} open now", "how's the traffic to {place}",
        "get directions to {address} in {city}", "avoid highways", "avoid tolls",
        "what's my eta", "find parking near {place}", "how many miles to {city}",
        "drive to {fullname}'s house", "how do I get to {place} by bus",
        "show me {business}s in {city}", "walk me to {place}", "when does the {business} close",
        "what's the address of {place}", "share my eta with {contact}",
        "how long is the drive from {city} to {city}", "find a gas station on the way",
    ],
    "reminders": [
        "remind me to {task}", "remind me to {task} at {time}", "remind me to {task} {day}",
        "remind me to {task} in {duration}", "remind me {day} at {time} to {task}",
        "remind me to {task} when I get home", "what are my reminders for {day}",
        "delete the reminder to {task}", "remind me every {weekday} to {task}",
        "don't let me forget to {task}", "set a reminder for {time}",
        "remind me about the {event} {day}",
    ],
    "calendar": [
        "what's on my calendar {day}", "add {event} to my calendar {day} at {time}",
        "schedule a {event} {day} at {time}", "when is my {event}", "what time is my {event}",
        "move my {event} to {time}", "cancel my {event} {day}", "am I free {day} at {time}",
        "do I have anything {day}", "what's my next appointment", "book {duration} for {event}",
        "create an event called {event} {day}", "invite {contact} to the {event}",
        "when is {name}'s birthday", "{name}'s birthday is {day}", "how many days until {month} {small}th",
        "what day is {date}", "what's the date today", "what day of the week is {day}",
        "is {day} a holiday", "push the {event} back by {duration}",
    ],
    "shopping": [
        "order {items}", "buy {items}", "reorder {grocery}", "how much is {grocery}",
        "where is my order", "track my package", "when will my package arrive",
        "order a pizza from the {business}", "add {items} to my cart",
        "is {grocery} on sale", "find the cheapest {noun}", "how much does a {adj} {noun} cost",
        "buy a {adj} {noun} for under {money}", "I paid {money} for the {noun}",
        "cancel my last order", "order more {grocery}", "the total is {money}",
        "return the {noun} I bought {day}",
    ],
    "search": [
        "search for {search}", "look up {search}", "tell me {search}", "google {search}",
        "what's {search}", "find out {search}", "who is {fullname}", "what is {topic}",
        "search the web for {business}s in {city}", "show me pictures of {city}",
        "what's the population of {country}", "what language do they speak in {country}",
        "what time is it in {city}", "what's the capital of {country}",
        "how do you spell {surname}", "define {adj}", "what does {adj} mean",
        "what's the news {day}", "what's the score of the {city} game",
        "when was {fullname} born", "tell me about {city}", "how far is {country}",
        "translate good morning into {country}'s language", "what's the time in {city}",
    ],
    "numbers": [
        "what's {number} plus {number}", "what's {number} times {small}",
        "what's {number} divided by {small}", "what is {percent} of {money}",
        "what's {small} squared", "what's the square root of {number}",
        "convert {small} {unit} to {unit}",
        "how many {unit} are in {small} {unit}", "calculate a {percent} tip on {money}",
        "split {money} between {small} people",
        "my pin is {code}", "the code is {code}", "my zip code is {code}",
        "my phone number is {phone}", "the number is {phone}", "room {number}",
        "flight {number} to {city}", "gate {small}", "it costs {money}",
        "I owe {contact} {money}", "that's {money} each", "the bill came to {money}",
        "it was {number} {unit}", "we drove {number} miles", "about {percent} of them",
        "the meeting is at {address}", "I live at {address}", "I was born in {year}",
        "it happened in {year}", "since {year}", "on {date}", "in {month} {year}",
    ],
    "money": [
        "how much money is in my checking account", "send {money} to {contact}",
        "pay {contact} {money}", "transfer {money} to savings", "what's my balance",
        "request {money} from {contact} for {food}", "I spent {money} on {food}",
        "how much did I spend on groceries {day}", "the rent is {money} a month",
        "I'll pay you back {money} {day}", "can I borrow {money}", "it's on sale for {money}",
        "that's a {percent} discount", "the tax is {percent}", "tip {percent}",
        "prices went up by {percent}", "pay the {noun} bill of {money}",
    ],
    "conversation": [
        "I'm {feeling}", "are you {feeling}", "I'm {feeling} today", "how was your day",
        "what are you doing {day}", "do you want to get {food} {day}", "let's get {food}",
        "I'll see you {day}", "see you at {time}", "I'll be home at {time}",
        "I'll be there in {duration}", "sorry I'm late", "thanks for the {noun}",
        "thank you so much", "that sounds great", "no problem", "I don't think so",
        "I'm not sure", "can you help me", "what do you think about {topic}",
        "have you heard about {topic}", "I love {genre}", "I can't find my {noun}",
        "where did you put the {noun}", "have you seen my {noun}", "it's in the {room}",
        "{name} is coming over {day}", "{name} says hi", "tell {name} I said thanks",
        "I'm going to {place}", "I'm at {place}", "meet me at {place} at {time}",
        "we're going to {city} {day}", "I just got back from {country}",
        "my {relation} lives in {city}", "I grew up in {city}", "I'm from {city}, {state}",
        "{name} moved to {country} in {year}", "happy birthday {name}", "good luck {day}",
        "how much was the {noun}", "what time do you finish work", "are we still on for {day}",
        "let me think about it", "that's a good idea", "I'll do it {when}",
        "who's picking up the kids {day}", "dinner's ready", "what's for dinner",
        "can we talk {when}", "I miss you", "call me when you get home",
        "please call my {relation} when you get home", "did you remember to {task}",
        "it's {feeling} out here", "I'll have {food} please", "can I get {food} to go",
        "a table for {small} please", "we have a reservation for {time}",
        "check please", "how long is the wait", "is this seat taken",
    ],
    "dictation": [
        "I {verbed} the {adj} {noun} {when}", "{name} {verbed} the {noun} {when}",
        "we {verbed} a {adj} {noun} at {place}", "I need to {verb} the {noun} {when}",
        "can you {verb} the {noun} for me", "could you {verb} the {adj} {noun} {when}",
        "we should {verb} the {noun} before {weekday}", "did you {verb} the {noun} {when}",
        "don't forget to {verb} the {noun}", "I'll {verb} the {noun} when I get home",
        "please {verb} the {adj} {noun} and leave it in the {room}",
        "my {relation} {verbed} {small} {noun}s at {place}",
        "the {noun} is {adj} but the {noun} is {adj}", "the {adj} {noun} is in the {room}",
        "I think the {noun} is too {adj}", "the {noun} was {adj} and {adj}",
        "hi {name}, thanks for the {noun}", "dear {fullname}, I'm writing about the {noun}",
        "hi {name}, I {verbed} the {noun} {when}", "let me know if you {verb} the {noun}",
        "I'm sorry I {verbed} your {noun}", "we have {small} {noun}s left",
        "the {noun} costs {money}", "the {adj} {noun} arrived {when}",
        "{name} and {name} {verbed} the {noun} {when}", "I wonder if {name} {verbed} the {noun}",
        "there is a {adj} {noun} on the {noun}", "we'll need a {adj} {noun} for {topic}",
        "if you {verb} the {noun}, please tell {name}", "I was going to {verb} the {noun}",
        "it took {duration} to {verb} the {noun}", "the meeting with {fullname} is {day} at {time}",
        "we met {fullname} in {city} in {year}", "the flight to {city} leaves at {time}",
        "the {event} is {day} at {time}", "my {relation} wants to {verb} a {adj} {noun}",
        "the {noun} from {country} was {adj}", "I left my {noun} at {place}",
        "note to self {task} {when}", "new paragraph I {verbed} the {noun}",
        "my address is {address}, {city}", "the {business} on {address} is {adj}",
        "{percent} of the {noun}s were {adj}", "the report is due {day}",
        "please reply by {day}", "let's meet {day} at {time} at {place}",
        "thanks again, {name}", "best wishes, {name}", "see you {day}, {name}",
    ],
    "general": [
        "{people} {said} that the {abstract} was {aadj}", "{name} {says} the {abstract} is {aadj}",
        "{opinion} the {abstract} is {aadj}", "{opinion} {people} {modal} {action}",
        "{people} {modal} {action} {when}", "{people} decided to {action}",
        "{people} wanted to {action} {because} the {abstract} was {aadj}",
        "we {modal} {action} {because} the {abstract} is {aadj}",
        "the {abstract} was {aadj} {because} {people} could not {action}",
        "{people} {said} they {modal} {action} {when}", "it's {aadj} to {action}",
        "there is a {aadj} {abstract} in the {abstract}", "{people} asked me to {action}",
        "why did {people} {action}", "how {modal} we {action}", "what {modal} {people} do about the {abstract}",
        "the {aadj} {abstract} {modal} change the {abstract}", "{people} never {said} a word about the {abstract}",
        "I don't know whether {people} {modal} {action}", "have you ever tried to {action}",
        "{people} kept trying to {action} for {duration}", "{people} had already {said} that {when}",
        "neither of them {modal} {action}", "both of us {modal} {action} {when}",
        "the {abstract} of the {abstract} is {aadj}", "{opinion} it's the most {aadj} {abstract} I've seen",
        "according to {people}, the {abstract} is {aadj}", "{name} {says} it's {aadj} to {action}",
        "{opinion} we need a {aadj} {abstract}", "it wasn't {aadj} enough for {people}",
        "{people} lost {percent} of the {abstract} in {year}", "in {year} {people} {said} the {abstract} was {aadj}",
        "{people} spent {money} on the {abstract}", "the {abstract} grew by {percent} last year",
        "{opinion} {people} {modal} {action} without any help", "let's not {action} until {name} {says} so",
    ],
}

_SLOT_RE = re.compile(r"\{(\w+)\}")


def _fill(template: str, r: random.Random) -> str:
    # slot values may hold slots themselves ("lunch with {name}")
    out = template
    for _ in range(3):
        if "{" not in out:
            break
        out = _SLOT_RE.sub(lambda m: SLOTS[m.group(1)](r), out)
    out = re.sub(r" +", " ", out).strip()
    return out[:1].upper() + out[1:] + ("?" if out.split(" ", 1)[0] in _QUESTION_WORDS else ".")


_QUESTION_WORDS = {"what", "what's", "how", "how's", "who", "who's", "when", "where",
                   "is", "are", "do", "does", "did", "can", "could", "will", "am", "have"}


def everyday_texts(draws: int = DRAWS_PER_TEMPLATE, seed: int = EVERYDAY_SEED
                   ) -> list[tuple[str, str]]:
    """``(domain, raw text)`` pairs, distinct raw texts in a stable order: ``draws`` fills
    of every template (fewer for templates with few combinations)."""
    r = random.Random(seed)
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    for domain, templates in TEMPLATES.items():
        for t in templates:
            for _ in range(draws if "{" in t else 1):
                s = _fill(t, r)
                if s not in seen:
                    seen.add(s)
                    out.append((domain, s))
    return out


# --------------------------------------------------------------------------- coverage

TOP_WORDS_N = 5000


def top_english_words(n: int = TOP_WORDS_N) -> list[str] | None:
    """The ``n`` most frequent English words by PyPI ``wordfreq`` (None when it is not
    installed: ``pip install -e '.[train]'``)."""
    try:
        import wordfreq
    except ImportError:
        return None
    return list(wordfreq.top_n_list("en", n))


def word_coverage(texts: Iterable[str], words: list[str]) -> float:
    """The share of ``words`` that occur in ``texts`` (normalized texts: a-z, apostrophes,
    spaces). Each word is normalized like the texts ("1" -> "one", "u.s" -> "u s"); one
    that normalizes to several words counts as covered when all of them occur."""
    if not words:
        return 0.0
    vocab: set[str] = set()
    for t in texts:
        vocab.update(t.split())
    covered = 0
    for w in words:
        parts = normalize_text(w).split()
        if parts and all(p in vocab for p in parts):
            covered += 1
    return covered / len(words)


def coverage_report(synthesized: Iterable[str], available: Iterable[str],
                    n: int = TOP_WORDS_N) -> dict:
    """``corpus.json``'s word coverage: the share of the ``n`` most frequent English words
    (wordfreq) in the synthesized training texts and in all texts the training split
    could draw from."""
    words = top_english_words(n)
    if words is None:
        return {"top_words": n, "error": "PyPI wordfreq is not installed: pip install -e '.[train]'"}
    return {
        "top_words": n,
        "word_list": f"wordfreq {_wordfreq_version()} top_n_list('en', {n})",
        "synthesized_train": round(word_coverage(synthesized, words), 4),
        "available_train": round(word_coverage(available, words), 4),
    }


def _wordfreq_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("wordfreq")
    except PackageNotFoundError:
        return "?"
