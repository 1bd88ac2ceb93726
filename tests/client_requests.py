"""Client tasks as chat apps send them, and image requests that must not look like them.

Built from the client reference: how each app opens its request and how it lays out the
conversation. Shared by the unit tests of `client_tasks` and the tests of the routes.
"""

from __future__ import annotations

HISTORY = [
    {"role": "user", "content": "a red fox sleeping in deep snow 16:9"},
    {
        "role": "assistant",
        "content": "- 🎨 Original prompt: a red fox sleeping in deep snow\n\n"
        "![a red fox](http://localhost:8000/image/abc)",
    },
]
TRANSCRIPT = (
    "USER: a red fox sleeping in deep snow 16:9\n"
    "ASSISTANT: - 🎨 Original prompt: a red fox sleeping in deep snow"
)


def open_webui(task: str, output: str) -> dict:
    """An Open WebUI task request: one user message that opens with `### Task:`."""
    prompt = (
        f"### Task:\n{task}\n### Guidelines:\n- Keep it short.\n### Output:\n{output}\n"
        f"### Chat History:\n<chat_history>\n{TRANSCRIPT}\n</chat_history>"
    )
    return {"model": "flux-1-schnell", "stream": False,
            "messages": [{"role": "user", "content": prompt}]}  # fmt: skip


# (name, body, kind of task, a fragment the answer must hold)
CLIENT_TASKS = [
    (
        "open-webui title",
        open_webui(
            "Generate a concise, 3-5 word title with an emoji summarizing the chat history.",
            'JSON format: { "title": "your concise title here" }',
        ),
        "title",
        '{"title": "🎨 a red fox sleeping in deep snow"}',
    ),
    (
        "open-webui tags",
        open_webui(
            "Generate 1-3 broad tags categorizing the main themes of the chat history.",
            'JSON format: { "tags": ["tag1", "tag2"] }',
        ),
        "tags",
        '{"tags": ["Image generation"]}',
    ),
    (
        "open-webui follow-ups",
        open_webui(
            "Suggest 3-5 relevant follow-up questions or prompts the user might ask next.",
            'JSON format: { "follow_ups": ["Question 1?"] }',
        ),
        "follow_ups",
        '{"follow_ups": []}',
    ),
    (
        "open-webui search queries",
        open_webui(
            "Analyze the chat history to decide whether search queries are needed.",
            'JSON format: { "queries": ["query1"] }',
        ),
        "queries",
        '{"queries": []}',
    ),
    (
        "open-webui autocomplete",
        open_webui("You are an autocompletion system. Continue the text.", '{ "text": "" }'),
        "autocomplete",
        '{"text": ""}',
    ),
    (
        "nextchat topic",
        {
            "model": "flux-1-schnell",
            "messages": [
                *HISTORY,
                {
                    "role": "user",
                    "content": "Please generate a four to five word title summarizing our "
                    "conversation without any lead-in, punctuation, quotation marks, periods, "
                    "symbols, bold text, or additional text. Remove enclosing quotation marks.",
                },
            ],
        },
        "title",
        "🎨 a red fox sleeping in deep snow",
    ),
    (
        "nextchat memory summary",
        {
            "model": "flux-1-schnell",
            "messages": [
                *HISTORY,
                {
                    "role": "user",
                    "content": "Summarize the discussion briefly in 200 words or less to use "
                    "as a prompt for future context.",
                },
            ],
        },
        "summary",
        "Images drawn in this conversation: a red fox sleeping in deep snow",
    ),
    (
        "chatbox naming",
        {
            "model": "flux-1-schnell",
            "messages": [
                {
                    "role": "user",
                    "content": "Based on the chat history, give this conversation a name.\n"
                    "Keep it short, no quotes.\n\n```\nuser: a lighthouse at dusk 3:2\n```\n\n"
                    "The name is:",
                }
            ],
        },
        "title",
        "🎨 a lighthouse at dusk",
    ),
    (
        "cherry studio topic naming",
        {
            "model": "flux-1-schnell",
            "max_tokens": 1000,
            "messages": [
                {
                    "role": "system",
                    "content": "Summarize the conversation into a short title in English, "
                    "without punctuation. Output only the title.",
                },
                {
                    "role": "user",
                    "content": "User: a paper boat on a puddle\nAssistant: - 🎨 Original "
                    "prompt: a paper boat on a puddle\n",
                },
            ],
        },
        "title",
        "🎨 a paper boat on a puddle",
    ),
    (
        "cherry studio check",
        {"model": "flux-1-schnell", "messages": [{"role": "user", "content": "hi"}]},
        "check",
        "Flux API is ready",
    ),
]

IMAGE_PROMPTS = [
    "a red fox sleeping in deep snow 16:9",
    "hi-res photo of a hello kitty plush on a shelf",
    "a movie title card that reads THE END, 16:9",
    "Please generate a watercolor of a lighthouse",
    "### a markdown heading painted on a wall",
    "Summarize the history of Rome in one epic painting",
    "a conversation between two robots in a cafe",
    "User: interface mockup of a weather app, flat design",
    "test pattern for an old television, 4:3 look",
    "hello world written in neon lights 9:16",
    "a task list pinned to a cork board",
    "一只在雪地里睡觉的红狐狸 16:9",
]
