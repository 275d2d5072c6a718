"""The vocabularies of :mod:`trainer.data.everyday`'s templates: names, places, devices,
groceries, songs, general nouns, verbs and adjectives (raw text; normalized later)."""

FIRST_NAMES = """
James Mary John Patricia Robert Jennifer Michael Linda David Elizabeth William Barbara
Richard Susan Joseph Jessica Thomas Sarah Charles Karen Chris Lisa Daniel Nancy Matthew
Betty Anthony Sandra Mark Margaret Paul Ashley Steven Kimberly Andrew Emily Joshua Donna
Kevin Michelle Brian Carol George Amanda Tim Melissa Ronald Deborah Jason Stephanie Ryan
Rebecca Jacob Laura Gary Helen Nick Sharon Eric Cynthia Jonathan Kathleen Stephen Amy
Larry Angela Justin Anna Scott Brenda Frank Emma Brandon Olivia Raymond Sophie Greg Rachel
Sam Maria Ben Alice Peter Grace Harry Chloe Jack Lucy Oliver Hannah Tom Ella Adam Julia
Henry Megan Luke Zoe Ethan Nora Noah Ruby Liam Lily Owen Mia Leo Ava Max Isabel Dan Claire
Alex Kate Mike Jenny Joe Diana Carlos Rosa Juan Elena Luis Sofia Ahmed Fatima Omar Leila
Raj Priya Arjun Anita Wei Mei Hiroshi Yuki Ivan Olga Pierre Marie Hans Ingrid Kofi Amara
Tony Jane Bill Ellen Fred Martha Ray Joan Eddie Judy Walter Irene Arthur Rose Albert Ruth
""".split()

SURNAMES = """
Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez
Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Thompson White Harris Clark Lewis
Robinson Walker Young Allen King Wright Scott Green Baker Adams Nelson Hill Campbell Mitchell
Roberts Carter Phillips Evans Turner Parker Collins Edwards Stewart Morris Murphy Cook Rogers
Morgan Cooper Peterson Reed Bailey Bell Kelly Howard Ward Cox Richardson Wood Watson Brooks
Bennett Gray James Hughes Price Sanders Myers Long Ross Foster Powell Jenkins Perry Russell
Sullivan Fisher Henderson Coleman Patel Shah Chen Wang Kim Singh Nguyen Khan Murray Walsh
O'Brien Kennedy Hughes Palmer Fletcher Marshall Mason Hunt Holmes Webb Grant Stone Black
""".split()

RELATIONS = """
mom dad mother father wife husband sister brother son daughter grandma grandpa aunt uncle
cousin boss neighbor friend doctor dentist teacher babysitter landlord coach partner
""".split()

US_CITIES = [
    "New York", "Los Angeles", "Chicago", "Houston", "Phoenix", "Philadelphia", "San Antonio",
    "San Diego", "Dallas", "Austin", "Jacksonville", "Columbus", "Charlotte", "Indianapolis",
    "San Francisco", "Seattle", "Denver", "Washington", "Boston", "Nashville", "Detroit",
    "Portland", "Las Vegas", "Memphis", "Louisville", "Baltimore", "Milwaukee", "Albuquerque",
    "Tucson", "Fresno", "Sacramento", "Kansas City", "Atlanta", "Miami", "Omaha", "Raleigh",
    "Minneapolis", "Cleveland", "Tampa", "New Orleans", "Pittsburgh", "Cincinnati", "Orlando",
    "Salt Lake City", "Saint Louis", "Honolulu", "Anchorage", "Buffalo", "Richmond", "Boise",
]
UK_CITIES = [
    "London", "Manchester", "Birmingham", "Liverpool", "Leeds", "Glasgow", "Edinburgh",
    "Bristol", "Cardiff", "Belfast", "Sheffield", "Newcastle", "Nottingham", "Leicester",
    "Oxford", "Cambridge", "Brighton", "York", "Bath", "Southampton", "Aberdeen", "Dundee",
    "Plymouth", "Norwich", "Exeter", "Coventry", "Reading", "Swansea", "Inverness", "Derby",
]
WORLD_CITIES = [
    "Paris", "Berlin", "Madrid", "Rome", "Tokyo", "Sydney", "Toronto", "Dublin", "Amsterdam",
    "Vienna", "Prague", "Lisbon", "Athens", "Cairo", "Mumbai", "Delhi", "Beijing", "Seoul",
    "Bangkok", "Singapore", "Mexico City", "Buenos Aires", "Vancouver", "Montreal", "Melbourne",
    "Auckland", "Cape Town", "Nairobi", "Istanbul", "Stockholm", "Oslo", "Copenhagen", "Zurich",
]
CITIES = US_CITIES + UK_CITIES + WORLD_CITIES
COUNTRIES = [
    "France", "Germany", "Spain", "Italy", "Japan", "China", "India", "Canada", "Mexico",
    "Brazil", "Australia", "Ireland", "Scotland", "England", "Wales", "Portugal", "Greece",
    "Egypt", "Kenya", "Nigeria", "South Africa", "Argentina", "Chile", "Peru", "Norway",
    "Sweden", "Denmark", "Finland", "Poland", "Russia", "Turkey", "Thailand", "Vietnam",
    "Korea", "New Zealand", "Iceland", "Morocco", "Switzerland", "Austria", "the Netherlands",
]
US_STATES = [
    "California", "Texas", "Florida", "New York", "Ohio", "Georgia", "Michigan", "Virginia",
    "Washington", "Arizona", "Oregon", "Colorado", "Nevada", "Utah", "Maine", "Vermont",
    "Alaska", "Hawaii", "Kentucky", "Tennessee", "Alabama", "Iowa", "Kansas", "Montana",
]
STREETS = """
Main Oak Maple Pine Cedar Elm Park Lake Hill River Church High Market Station Mill Bridge
Spring Washington Lincoln Jefferson Chestnut Walnut Willow Sunset Forest Highland Meadow
""".split()
STREET_TYPES = ["Street", "Avenue", "Road", "Lane", "Drive", "Boulevard", "Way", "Court"]

PLACES = """
the airport|the train station|the bus stop|the hospital|the pharmacy|the post office|the bank
|the library|the gym|the office|the school|work|home|the park|the beach|the mall|the grocery store
|the supermarket|the gas station|the nearest coffee shop|the museum|the zoo|the stadium
|the hotel|the dentist|the doctor's office|the vet|the hardware store|the bakery|the cinema
|the movie theater|the city center|downtown|the hairdresser|the car wash|the restaurant
|the pizza place|the farmers market|the swimming pool|the church|the town hall|the bookstore
|the garden center|the pet store|the dry cleaner|the parking garage|the playground
""".replace("\n", "").split("|")

BUSINESSES = """
Italian restaurant|Chinese restaurant|Mexican restaurant|Thai restaurant|sushi place|pizza place
|coffee shop|bakery|pharmacy|gas station|hardware store|grocery store|bookstore|gym|barber shop
|hair salon|bank|ATM|post office|hotel|bike shop|car wash|pet store|florist|ice cream shop
|burger place|steak house|vegetarian restaurant|breakfast place|laundromat|urgent care|dentist
|shoe store|toy store|music store|camping store|furniture store|phone repair shop|library
""".replace("\n", "").split("|")

ROOMS = """
living room|kitchen|bedroom|bathroom|hallway|dining room|office|garage|basement|attic|porch
|nursery|guest room|laundry room|backyard|front yard|patio|study|den|kids' room|master bedroom
""".replace("\n", "").split("|")

DEVICES = """
lights|lamp|fan|heater|air conditioner|television|radio|speaker|coffee maker|kettle|oven
|dishwasher|washing machine|dryer|vacuum|thermostat|porch light|ceiling light|night light
|garage door|front door|back door|blinds|curtains|sprinklers|alarm system|camera|printer|humidifier
""".replace("\n", "").split("|")

COLORS = """
red orange yellow green blue purple pink white warm white cool white soft white gold teal
turquoise lavender violet amber
""".split()

GROCERIES = """
milk|eggs|bread|butter|cheese|apples|bananas|oranges|grapes|strawberries|blueberries|lemons
|tomatoes|potatoes|onions|garlic|carrots|lettuce|spinach|broccoli|cucumbers|peppers|mushrooms
|rice|pasta|flour|sugar|salt|pepper|olive oil|coffee|tea|orange juice|yogurt|cereal|oatmeal
|peanut butter|jam|honey|chicken|beef|pork chops|salmon|tuna|shrimp|bacon|sausages|ham|turkey
|chips|crackers|cookies|ice cream|chocolate|popcorn|nuts|soup|beans|corn|frozen peas|pizza
|tortillas|bagels|muffins|cream|sour cream|mayonnaise|ketchup|mustard|vinegar|soy sauce
|toilet paper|paper towels|dish soap|laundry detergent|shampoo|toothpaste|soap|batteries
|light bulbs|trash bags|aluminum foil|napkins|sponges|dog food|cat food|diapers|baby wipes
|sparkling water|lemonade|wine|beer|avocados|celery|pears|peaches|watermelon|cherries
""".replace("\n", "").split("|")

LISTS = """
shopping list|grocery list|to do list|packing list|wish list|reading list|party list
|Christmas list|gift list|chores list|work list|movie list|errands list
""".replace("\n", "").split("|")

GENRES = """
jazz|classical music|rock|pop|country|hip hop|blues|reggae|folk|soul|funk|heavy metal|punk
|electronic music|dance music|the eighties|the nineties|relaxing music|piano music|lullabies
|workout music|study music|Christmas music|rain sounds|ocean sounds|white noise|podcasts
|the news|talk radio|oldies|indie rock|love songs|party music|sleep sounds|opera|gospel
""".replace("\n", "").split("|")

_SONG_A = """
blue yellow silver golden broken little wild lonely summer winter midnight morning sweet
dancing falling burning quiet rolling electric paper crazy lucky open endless hidden
""".split()
_SONG_B = """
river moon sky heart road night rain fire dreams city light ocean train garden window
highway rose stars love song island mountain thunder shadow wind
""".split()
_BAND_B = """
Rivers Kings Lions Wolves Brothers Sisters Hearts Birds Foxes Riders Lights Drifters
Travelers Dreamers Strangers Giants Tigers Pilots Sailors Echoes
""".split()

APPS = """
camera|calculator|calendar|clock|maps|music|photos|settings|email|messages|notes|weather app
|flashlight|contacts|browser|podcast app|news app|banking app|fitness app|recorder|alarm
""".replace("\n", "").split("|")

EVENTS = """
meeting|dentist appointment|doctor's appointment|haircut|lunch with {name}|dinner with {name}
|call with {name}|team meeting|parent teacher conference|soccer practice|piano lesson
|yoga class|job interview|birthday party|book club|date night|flight to {city}|car service
|vet appointment|coffee with {name}|conference call|school pickup|gym session|study group
|doctor's visit|movie night|football game|swimming lesson|budget review|project review
""".replace("\n", "").split("|")

TASKS = """
pay the rent|pay the electric bill|call the plumber|pick up the kids|water the plants
|take out the trash|buy milk|feed the cat|walk the dog|book a table|renew my passport
|return the library books|send the invoice|call {name}|email {name}|take my medicine
|check the mail|charge my phone|pack my bag|back up my laptop|cancel the subscription
|order a birthday present for {name}|pick up the dry cleaning|change the sheets|clean the fridge
|buy a card for {name}|move the car|lock the back door|book the flights|fill up the tank
|schedule a haircut|drop off the package|finish the report|reply to {name}|update my resume
|bring the umbrella|thaw the chicken|turn off the oven|wash the car|mow the lawn|get gas
""".replace("\n", "").split("|")

# General sentences: singular concrete nouns, verbs that take them, adjectives.
NOUNS = """
book|car|phone|laptop|report|letter|package|key|bag|jacket|umbrella|ticket|bottle|box|chair
|table|window|door|picture|camera|bike|map|file|card|list|note|plan|recipe|cake|sandwich
|coat|hat|shirt|watch|wallet|computer|printer|lamp|blanket|pillow|mirror|clock|bill|check
|contract|receipt|schedule|present|gift|basket|bucket|ladder|hammer|bowl|plate|cup|glass
|kettle|pan|pot|shelf|drawer|cabinet|sofa|bed|desk|fence|gate|garden|roof|floor|wall|carpet
|battery|charger|cable|screen|keyboard|mouse|speaker|guitar|piano|ball|toy|puzzle|game
|magazine|newspaper|article|story|message|photo|video|song|form|application|proposal
|budget|presentation|spreadsheet|invoice|order|delivery|menu|ring|necklace|bracelet|suitcase
|backpack|notebook|pencil|pen|envelope|stamp|sign|poster|painting|tent|boat|truck|van
""".replace("\n", "").split("|")
VERBS = [  # (base, past)
    ("buy", "bought"), ("fix", "fixed"), ("clean", "cleaned"), ("check", "checked"),
    ("bring", "brought"), ("find", "found"), ("move", "moved"), ("open", "opened"),
    ("close", "closed"), ("wash", "washed"), ("pack", "packed"), ("paint", "painted"),
    ("sell", "sold"), ("borrow", "borrowed"), ("return", "returned"), ("send", "sent"),
    ("print", "printed"), ("sign", "signed"), ("read", "read"), ("finish", "finished"),
    ("order", "ordered"), ("carry", "carried"), ("share", "shared"), ("hide", "hid"),
    ("change", "changed"), ("replace", "replaced"), ("test", "tested"), ("try", "tried"),
    ("lose", "lost"), ("keep", "kept"), ("leave", "left"), ("take", "took"), ("get", "got"),
    ("need", "needed"), ("want", "wanted"), ("like", "liked"), ("love", "loved"),
    ("hate", "hated"), ("see", "saw"), ("watch", "watched"), ("show", "showed"),
    ("give", "gave"), ("lend", "lent"), ("make", "made"), ("build", "built"),
    ("drop", "dropped"), ("break", "broke"), ("cover", "covered"), ("describe", "described"),
    ("deliver", "delivered"), ("prepare", "prepared"), ("review", "reviewed"),
    ("repair", "repaired"), ("sort", "sorted"), ("measure", "measured"), ("wrap", "wrapped"),
    ("mention", "mentioned"), ("notice", "noticed"), ("remember", "remembered"),
    ("forget", "forgot"), ("choose", "chose"), ("compare", "compared"), ("collect", "collected"),
    ("hold", "held"), ("throw", "threw"), ("pull", "pulled"), ("push", "pushed"),
    ("lift", "lifted"), ("pay for", "paid for"), ("look at", "looked at"),
    ("talk about", "talked about"), ("think about", "thought about"), ("ask about", "asked about"),
    ("worry about", "worried about"), ("pick up", "picked up"), ("put away", "put away"),
    ("set up", "set up"), ("figure out", "figured out"), ("clean up", "cleaned up"),
    ("throw away", "threw away"), ("hand in", "handed in"), ("fill out", "filled out"),
]
ADJECTIVES = """
new old big small little large heavy light cheap expensive nice beautiful ugly clean dirty
broken empty full red blue green black white brown yellow long short wide narrow warm cold
wet dry soft hard strong weak fresh quiet loud simple strange special important different
favorite extra spare second last first wooden plastic metal leather bright dark huge tiny
shiny modern ancient perfect wrong right useful famous lucky entire whole original
""".split()
ADVERBIALS = """
today|tomorrow|yesterday|this morning|this afternoon|tonight|last night|last week|next week
|on Monday|on Tuesday|on Wednesday|on Thursday|on Friday|on Saturday|on Sunday|this weekend
|right now|later today|before lunch|after dinner|after work|before the meeting|in the morning
|in the evening|as soon as possible|by the end of the day|every day|once a week|again
|at the weekend|next month|last month|this year|a few minutes ago|first thing tomorrow
|on the way home|while you were out|during the break|after school|before bed
""".replace("\n", "").split("|")
# General sentences, third person and abstract: the wider vocabulary of everyday speech.
PEOPLE = """
he|she|they|my friend|the teacher|the manager|our neighbor|the doctor|her brother|his sister
|the kids|the students|the players|the team|my family|the company|the government|the police
|the president|the new guy|everyone|nobody|someone|the children|the woman next door
|the man at the counter|my parents|the boss|their daughter|our son|the coach|the director
|the staff|the members|the customers|the officer|the driver|the author|the judge|the nurse
""".replace("\n", "").split("|")
ABSTRACT = """
idea|plan|problem|question|answer|reason|decision|choice|opportunity|situation|experience
|information|news|story|issue|result|change|mistake|chance|point|difference|example|rule
|policy|system|process|program|project|service|product|price|cost|value|quality|amount
|interest|health|education|research|history|future|problem|relationship|agreement|offer
|advice|support|attention|energy|power|control|freedom|security|safety|risk|pressure|trust
|success|performance|growth|development|knowledge|evidence|opinion|theory|truth|effect
|impact|approach|method|goal|purpose|position|role|record|level|range|size|weight|distance
|speed|rate|report|data|analysis|design|structure|feature|version|movement|community
|culture|society|economy|industry|market|business|government|election|campaign|law
|justice|crime|budget|income|insurance|credit|career|training|treatment|condition|disease
|pain|fear|hope|love|anger|pride|luck|fun|peace|war|nature|environment|weather|season
|challenge|competition|game|match|season|event|series|show|film|movie|song|album|book
""".replace("\n", "").split("|")
ABSTRACT_ADJ = """
good|bad|great|serious|important|difficult|easy|possible|likely|clear|simple|complex|real
|true|different|similar|common|special|normal|natural|personal|private|public|local|national
|international|political|economic|social|financial|medical|legal|physical|general|specific
|major|minor|final|current|recent|previous|original|basic|main|whole|full|huge|small|strong
|weak|fair|safe|dangerous|popular|successful|interesting|boring|amazing|funny|strange|obvious
|necessary|useful|expensive|cheap|fast|slow|early|late|quick|poor|rich|free|busy|ready|open
""".replace("\n", "").split("|")
VERBS_3P = [  # (third person present, past)
    ("says", "said"), ("thinks", "thought"), ("knows", "knew"), ("believes", "believed"),
    ("feels", "felt"), ("hopes", "hoped"), ("expects", "expected"), ("understands", "understood"),
    ("agrees", "agreed"), ("suggests", "suggested"), ("explains", "explained"),
    ("admits", "admitted"), ("claims", "claimed"), ("remembers", "remembered"),
    ("decides", "decided"), ("realizes", "realized"), ("mentions", "mentioned"),
    ("reports", "reported"), ("announces", "announced"), ("learns", "learned"),
]
ACTIONS = """
discuss the {abstract}|change the {abstract}|support the {abstract}|explain the {abstract}
|improve the {abstract}|accept the {abstract}|reject the {abstract}|review the {abstract}
|understand the {abstract}|consider the {abstract}|follow the {abstract}|announce the {abstract}
|deal with the {abstract}|talk about the {abstract}|focus on the {abstract}|worry about the {abstract}
|win the game|lose the match|join the team|leave the company|start a business|move abroad
|get married|buy a house|sell the car|go back to school|find a new job|take a break
|travel to {country}|visit {city}|stay at home|work from home|call the police|see a doctor
|raise the price|cut the budget|hire more staff|pay the bill|save some money|lose weight
|watch the game|read the news|write a book|learn to drive|play the piano|cook dinner
""".replace("\n", "").split("|")
MODALS = ["will", "would", "could", "should", "might", "must", "can", "may"]
CONNECTORS = """
because|although|even though|since|unless|while|after|before|when|if|as soon as|so that
""".replace("\n", "").split("|")
OPINIONS = """
I think|I believe|I feel like|I guess|I doubt|I hope|I'm sure|it seems|apparently|maybe
|honestly|actually|to be honest|in fact|of course|probably|perhaps|obviously|clearly
|basically|generally|usually|sometimes|often|always|never|really|especially|finally|anyway
""".replace("\n", "").split("|")
FEELINGS = """
happy|tired|hungry|busy|late|sorry|sure|ready|glad|worried|excited|bored|cold|hot|sick
|lost|stuck|nervous|confused|proud|surprised|running late|almost there|on my way|free later
""".replace("\n", "").split("|")
TOPICS = """
the weather|the game|the movie|the new job|the trip|the party|the wedding|the house|the car
|the project|the meeting|the budget|the schedule|the kids|the garden|the holidays|the concert
|the election|the news|the traffic|the price of gas|the book|the show|the recipe|the plan
""".replace("\n", "").split("|")
FOODS = """
pizza|pasta|tacos|sushi|a burger|a salad|soup|curry|noodles|fried chicken|a sandwich|steak
|pancakes|waffles|fish and chips|ramen|burritos|dumplings|lasagna|a smoothie|a coffee|tea
""".replace("\n", "").split("|")
SEARCH_TOPICS = """
the capital of {country}|how tall Mount Everest is|how to make banana bread|how to tie a tie
|the population of {city}|how far the moon is|who invented the telephone|how to boil an egg
|the best pizza near me|what time the store closes|how to change a tire|the meaning of serendipity
|how many ounces are in a cup|how to say thank you in Spanish|the score of the game
|how to get rid of hiccups|the tallest building in the world|who wrote Romeo and Juliet
|how old the universe is|how to fix a leaky faucet|when the next full moon is|how to plant tomatoes
|the symptoms of the flu|the exchange rate for euros|cheap flights to {city}|hotels in {city}
|how long to cook a turkey|how to remove a stain|what a black hole is|the speed of light
|how many calories are in an apple|the lyrics to happy birthday|how to reset my router
""".replace("\n", "").split("|")
UNITS = """
miles|kilometers|pounds|kilograms|ounces|grams|cups|tablespoons|teaspoons|liters|gallons
|feet|meters|inches|centimeters|degrees Fahrenheit|degrees Celsius|quarts|pints|yards
""".replace("\n", "").split("|")
_WEEKDAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
_MONTHS = ("January February March April May June July August September October "
           "November December").split()
_WEATHER = """
rain|snow|sun|wind|fog|a storm|thunder|hail|frost|a heat wave|clouds|sunshine|showers
""".replace("\n", "").split("|")
