// The task types behind task_for(), each defined in its own file.
#pragma once

#include "tinybert/task/task.h"

namespace tinybert::task {

const Task& sequence_classification();  // sequence.cpp
const Task& regression();               // sequence.cpp
const Task& token_classification();     // token.cpp
const Task& question_answering();       // qa.cpp

}  // namespace tinybert::task
